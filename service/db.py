"""Database engine and transactions, without Flask.

SQLite (the default) is opened in WAL mode with ``secure_delete`` on, so deleted
rows are overwritten rather than left in free pages, and every transaction
begins ``IMMEDIATE`` so concurrent gunicorn workers queue instead of failing
to upgrade a read lock. PostgreSQL is used as given by its URL.

Most code uses ORM sessions (:meth:`Database.transaction`). The verification
hot path uses driver connections (:meth:`Database.connect`, ``service.driver``):
Core statements run on the driver's cursor, reads in autocommit (on SQLite each
statement its own read transaction, which in WAL mode neither takes nor waits
for the write lock), writes in :meth:`Database.write`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from service import driver

SQLITE_BUSY_TIMEOUT_MS = 10_000


CHECKPOINT_INTERVAL_S = 0.25
log = logging.getLogger(__name__)


def make_engine(url: str, *, auto_checkpoint: bool = True, pre_ping: bool = True, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the pragmas and pool settings Lethe relies on.

    ``auto_checkpoint=False`` turns off SQLite's own WAL checkpoints in the
    committing connection (see :class:`Database`); ``pre_ping=False`` does not
    test a pooled PostgreSQL connection before each use (``service.driver``
    retries its first read instead).
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect if auto_checkpoint else _sqlite_on_connect_no_checkpoint)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=pre_ping, **kwargs)


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any, *extra_pragmas: str) -> None:
    # Let SQLAlchemy's "begin" listener issue BEGIN itself (pysqlite's own handling is off): a driver
    # connection is in autocommit mode until a BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        "secure_delete=ON",
        f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        "synchronous=NORMAL",
        *extra_pragmas,
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_connect_no_checkpoint(dbapi_connection: Any, record: Any) -> None:
    _sqlite_on_connect(dbapi_connection, record, "wal_autocheckpoint=0")


def wal_checkpoint(engine: Engine, mode: str) -> None:
    """Run SQLite's ``wal_checkpoint(mode)`` on a pooled connection (autocommit: no BEGIN around the pragma)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"PRAGMA wal_checkpoint({mode})")
        cursor.close()
    finally:
        raw.close()


class _Checkpointer:
    """Copy SQLite's WAL into the database file from a background thread, every ``interval_s``.

    SQLite's automatic checkpoint runs inside whichever commit pushes the WAL past
    1,000 pages: copying the pages and two ``fsync`` calls, 4–60 ms measured here,
    so about one verification in a hundred waited for it (p99 4 ms, worst 60 ms,
    against a 22-µs median commit). A ``PASSIVE`` checkpoint here takes neither
    the write lock nor a reader's, so commits go on while it copies; several
    processes each running one is safe (SQLite lets one checkpoint run at a time).
    """

    def __init__(self, engine: Engine, interval_s: float) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lethe-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                wal_checkpoint(self._engine, "PASSIVE")
            except Exception as exc:  # keep checkpointing; the next round retries
                log.warning("WAL checkpoint failed", extra={"error": type(exc).__name__})

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _WriterQueue:
    """Serialise SQLite transactions across processes and threads with a lock file.

    Every SQLite transaction here is ``BEGIN IMMEDIATE``, so only one runs at a
    time anyway; without this queue the others wait in SQLite's busy handler,
    which polls with sleeps of up to 100 ms. Here a waiter polls the lock file,
    first after 50 µs, then less often, up to every millisecond. Waiting is
    bounded by the busy timeout, after which the transaction goes ahead and
    SQLite's own busy handling applies.
    """

    def __init__(self, database_file: Path) -> None:
        self.path = database_file.with_name(database_file.name + ".lock")
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        if not self._thread_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            yield  # let SQLite's own busy timeout decide
            return
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            locked = self._lock_file(self._fd)
            try:
                yield
            finally:
                if locked:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    @staticmethod
    def _lock_file(fd: int) -> bool:
        """Take the file lock, polling from 50 µs doubling to 1 ms; give up (and leave it to SQLite) after the
        busy timeout. A write transaction holds it for about 0.1 ms, so the first polls are the ones that win."""
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        pause = 0.00005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.001)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Database:
    """An engine and its session factory.

    ``background_checkpoints`` (the service sets it): on a SQLite file, WAL
    checkpoints run in a background thread of this process instead of inside
    commits (see :class:`_Checkpointer`). Commands leave it off, so a long
    ``lethe purge`` still checkpoints as it goes.
    """

    def __init__(self, url: str, *, background_checkpoints: bool = False, **engine_kwargs: Any) -> None:
        self.url = url
        parsed = make_url(url)
        database = parsed.database if parsed.get_backend_name() == "sqlite" and parsed.database != ":memory:" else None
        background = background_checkpoints and bool(database)
        self.engine = make_engine(url, auto_checkpoint=not background, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # The hot path's own pool on PostgreSQL, without the ping before each checkout (one round trip a request),
        # its connections in autocommit from the start (service.driver sends BEGIN and COMMIT itself).
        self._driver_engine = (
            self.engine
            if self.is_sqlite
            else make_engine(url, pre_ping=False, isolation_level="AUTOCOMMIT", **engine_kwargs)
        )
        self._statements = driver.Statements(self.engine.dialect)
        self._queue = _WriterQueue(Path(database)) if database else None
        self._checkpointer = _Checkpointer(self.engine, CHECKPOINT_INTERVAL_S) if background else None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Yield a session inside one transaction: committed on success, rolled back on error."""
        if self._queue is None:
            with self._sessions.begin() as session:
                yield session
            return
        with self._queue.held(), self._sessions.begin() as session:
            yield session

    @contextmanager
    def connect(self) -> Iterator[driver.DriverConnection]:
        """One pooled driver connection (the verification hot path).

        Its statements outside :meth:`write` run in autocommit, each its own read
        snapshot: on SQLite such a read neither takes nor waits for the write lock.
        """
        with driver.connect(self._driver_engine, self._statements) as conn:
            yield conn

    @contextmanager
    def write(self, conn: driver.DriverConnection) -> Iterator[driver.DriverConnection]:
        """A write transaction on ``conn`` (on SQLite ``BEGIN IMMEDIATE`` in the writer queue): committed on success."""
        begin = "BEGIN IMMEDIATE" if self.is_sqlite else "BEGIN"
        with self._queue.held() if self._queue is not None else nullcontext(), conn.transaction(begin):
            yield conn

    def checkpoint(self) -> None:
        """On SQLite, copy the WAL into the database file and truncate it, so deleted rows leave no copy there.

        With ``secure_delete`` on, deleted rows are zeroed in the main file; the
        WAL still holds the pages as they were written until a checkpoint. Busy
        readers make the checkpoint partial; it is retried by the next caller.
        """
        if self.is_sqlite:
            wal_checkpoint(self.engine, "TRUNCATE")

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()
        if self._driver_engine is not self.engine:
            self._driver_engine.dispose()
        if self._queue is not None:
            self._queue.close()
