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

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_BUSY_TIMEOUT_MS = 100  # a checkpoint that readers hold up is partial and retried, not awaited
_DEFERRED = "lethe.deferred"  # a connection.info flag: the next SQLite BEGIN is deferred (see Database.read)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the pragmas and pool settings Lethe relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


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
        """On SQLite, copy the WAL into the database file and truncate it, so deleted rows leave no copy there.

        With ``secure_delete`` on, deleted rows are zeroed in the main file; the
        WAL still holds the pages as they were written until a checkpoint. Busy
        readers make the checkpoint partial; it is retried by the next caller.
        It waits at most ``CHECKPOINT_BUSY_TIMEOUT_MS`` for them, not the
        connection's busy timeout: a TRUNCATE checkpoint that waits holds up
        every writer meanwhile.
        """
        if not self.is_sqlite:
            return
        raw = self.engine.raw_connection()  # autocommit (see _sqlite_on_connect): no BEGIN around the pragma
        try:
            cursor = raw.cursor()
            cursor.execute(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_TIMEOUT_MS}")
            try:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                cursor.close()
        finally:
            raw.close()

    def dispose(self) -> None:
        self.engine.dispose()
