"""Database engine and transactions, without Flask.

SQLite (the default) is opened in WAL mode with ``secure_delete`` on, so deleted
rows are overwritten rather than left in free pages, and every transaction
begins ``IMMEDIATE`` so concurrent gunicorn workers queue instead of failing
to upgrade a read lock, except under :meth:`Database.read` (no ``BEGIN``:
each statement reads in its own implicit transaction, which in WAL mode
neither takes nor waits for the write lock). PostgreSQL is used as given by
its URL.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000
_READ_ONLY = "lethe.read-only"  # a connection.info flag: the next SQLite "begin" issues no BEGIN (see Database.read)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the pragmas and pool settings Lethe relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_begin(conn: Connection) -> None:
    if conn.info.pop(_READ_ONLY, False):
        return  # autocommit: each statement is its own read transaction, which never waits for the write lock
    conn.exec_driver_sql("BEGIN IMMEDIATE")


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


class _WriterQueue:
    """Serialise SQLite transactions across processes and threads with a lock file.

    Every SQLite transaction here is ``BEGIN IMMEDIATE``, so only one runs at a
    time anyway; without this queue the others wait in SQLite's busy handler,
    which polls with sleeps of up to 100 ms. Here a waiter polls the lock file
    every 0.5 ms instead. Waiting is bounded by the busy timeout, after which
    the transaction goes ahead and SQLite's own busy handling applies.
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
        """Take the file lock, polling every 0.5 ms; give up (and leave it to SQLite) after the busy timeout."""
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.0005)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        database = self.engine.url.database if self.is_sqlite else None
        self._queue = _WriterQueue(Path(database)) if database and database != ":memory:" else None

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
    def connect(self) -> Iterator[Connection]:
        """One pooled Core connection, for a :meth:`read` followed by a :meth:`write` (the verification hot path)."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def read(self, conn: Connection) -> Iterator[Connection]:
        """Read-only use of ``conn``; the caller must not write in it.

        On SQLite no ``BEGIN`` is issued: each statement runs in its own
        implicit read transaction (one consistent snapshot per statement), in
        WAL mode without waiting for writers, and outside the writer queue. On
        PostgreSQL it is an ordinary transaction.
        """
        if self.is_sqlite:
            conn.info[_READ_ONLY] = True
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info.pop(_READ_ONLY, None)

    @contextmanager
    def write(self, conn: Connection) -> Iterator[Connection]:
        """A write transaction on ``conn`` (on SQLite ``BEGIN IMMEDIATE`` in the writer queue): committed on success."""
        if self._queue is None:
            with conn.begin():
                yield conn
            return
        with self._queue.held(), conn.begin():
            yield conn

    def checkpoint(self) -> None:
        """On SQLite, copy the WAL into the database file and truncate it, so deleted rows leave no copy there.

        With ``secure_delete`` on, deleted rows are zeroed in the main file; the
        WAL still holds the pages as they were written until a checkpoint. Busy
        readers make the checkpoint partial; it is retried by the next caller.
        """
        if not self.is_sqlite:
            return
        raw = self.engine.raw_connection()  # autocommit (see _sqlite_on_connect): no BEGIN around the pragma
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.close()
        finally:
            raw.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._queue is not None:
            self._queue.close()
