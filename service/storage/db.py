"""Database engine and transactions, without Flask.

SQLite (the default) is opened in WAL mode with ``secure_delete`` on, so deleted
rows are overwritten rather than left in free pages, and every transaction
begins ``IMMEDIATE`` so concurrent gunicorn workers queue in SQLite's busy
handler instead of failing to upgrade a read lock; a transaction opened with
:meth:`Database.read` begins deferred instead (in WAL mode a reader neither
takes nor waits for the write lock). PostgreSQL is used as given by its URL.
Pooled connections are pinged before use (``pool_pre_ping``), so one the server
dropped is replaced rather than failing a request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from service.errors import DeletionPending
from service.storage.private import private_file

SQLITE_BUSY_TIMEOUT_MS = 10_000
ERASE_TIMEOUT_S = 10.0  # how long a promised deletion waits for an older SQLite read snapshot to end
_TRUNCATE_WAIT_MS = 50  # how long a WAL truncation may hold the write lock waiting for readers to leave the WAL
_DEFERRED = "lethe.deferred"  # a connection.info flag: the next SQLite BEGIN is deferred (see Database.read)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the pragmas and pool settings Lethe relies on.

    A SQLite database file is created (or tightened) to mode 0600 first (:mod:`service.storage.private`).
    """
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:") and Path(database).parent.is_dir():
            private_file(Path(database), "-wal", "-shm", "-journal")
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _checkpoint(cursor: Any, mode: str, *, busy_ms: int) -> tuple[int, int, int]:
    """``PRAGMA wal_checkpoint(mode)`` waiting at most ``busy_ms`` for locks: (busy, WAL frames, frames copied)."""
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    busy, frames, done = cursor.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return int(busy), int(frames), int(done)


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN" if conn.info.pop(_DEFERRED, False) else "BEGIN IMMEDIATE")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" listener issue BEGIN itself (pysqlite's own handling is off).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        "secure_delete=ON",
        f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        "synchronous=NORMAL",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


class Database:
    """An engine and its sessions."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.erase_timeout_s = ERASE_TIMEOUT_S
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Yield a session inside one transaction: committed on success, rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a session on one pooled connection for several transactions in a row (:meth:`read`, :meth:`write`).

        The verification reads, then works outside any transaction, then writes:
        one checkout (and one ping) for both, and the objects it read stay usable.
        """
        with self.engine.connect() as conn, Session(conn, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def read(self, session: Session) -> Iterator[Session]:
        """A transaction of ``session`` (from :meth:`session`) that only reads; the caller must not write in it.

        On SQLite it begins deferred: in WAL mode it reads one snapshot without
        taking or waiting for the write lock. On PostgreSQL its statements run in
        autocommit, each its own snapshot, with no ``BEGIN`` and ``COMMIT`` round
        trips (the verification's read is one statement).
        """
        connection = session.get_bind()
        assert isinstance(connection, Connection), "read() takes a session from Database.session()"
        if self.is_sqlite:
            connection.info[_DEFERRED] = True
        else:
            connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            with session.begin():
                yield session
        finally:
            if self.is_sqlite:
                connection.info.pop(_DEFERRED, None)
            else:
                connection.execution_options(isolation_level=connection.default_isolation_level)

    @contextmanager
    def write(self, session: Session) -> Iterator[Session]:
        """A write transaction of ``session`` (on SQLite ``BEGIN IMMEDIATE``): committed on success."""
        with session.begin():
            yield session

    def checkpoint(self) -> None:
        """On SQLite, copy the WAL into the database file and truncate it, if no reader is in the way (best effort).

        With ``secure_delete`` on, deleted rows are zeroed in the main file; the
        WAL still holds the pages as they were written until a checkpoint. A
        reader in the way makes it partial at once (no wait, no lock held); the
        next caller retries. Where a deletion is promised, use :meth:`erase_copies`.
        """
        if self.is_sqlite:
            with self._raw_cursor() as cursor:
                _checkpoint(cursor, "TRUNCATE", busy_ms=0)

    def erase_copies(self, timeout_s: float | None = None) -> None:
        """After a committed deletion: return once no copy of the deleted bytes is left in SQLite's file or WAL.

        A reader whose snapshot began before the deletion keeps the old pages
        in the database file (SQLite must still serve them to it), so this
        waits, without holding any lock, until every frame written so far is
        copied into the file (passive checkpoints: ``secure_delete`` has zeroed
        the deleted cells there), then truncates the WAL, which holds older
        copies of the pages. Raises :class:`~service.errors.DeletionPending`
        when a snapshot is still held after ``timeout_s`` (default
        :attr:`erase_timeout_s`); the deletion itself stands and a later call,
        or the next checkout or purge, finishes the job. No-op on PostgreSQL
        (see ``docs/operations.md``, "Deletion on disk").
        """
        if not self.is_sqlite:
            return
        deadline = time.monotonic() + (self.erase_timeout_s if timeout_s is None else timeout_s)
        with self._raw_cursor() as cursor:
            _busy, target, _done = _checkpoint(cursor, "PASSIVE", busy_ms=0)
            pause = 0.001
            while True:
                _busy, frames, done = _checkpoint(cursor, "PASSIVE", busy_ms=0)
                in_file = done >= target or frames < target  # a WAL is reset only once wholly copied
                if in_file and _checkpoint(cursor, "TRUNCATE", busy_ms=_TRUNCATE_WAIT_MS)[0] == 0:
                    return
                if time.monotonic() + pause > deadline:
                    raise DeletionPending()
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    @contextmanager
    def _raw_cursor(self) -> Iterator[Any]:
        raw = self.engine.raw_connection()  # autocommit (see _sqlite_on_connect): no BEGIN around the pragmas
        try:
            cursor = raw.cursor()
            try:
                yield cursor
            finally:
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                cursor.close()
        finally:
            raw.close()

    def dispose(self) -> None:
        self.engine.dispose()
