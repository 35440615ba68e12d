"""The database helpers the verification relies on: a read that never waits for SQLite's writer."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from service.storage import migrate
from service.storage.db import Database
from service.storage.tables import Kiosk

COUNT = select(func.count()).select_from(Kiosk)


def test_sqlite_read_does_not_wait_for_a_writer_and_write_does(tmp_path: Path) -> None:
    path = tmp_path / "lethe.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    db = Database(f"sqlite:///{path}")
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    writer.execute(
        "INSERT INTO kiosks (id, name, public_key, status, created_at)"
        " VALUES ('k', 'n', x'00', 'active', '2026-01-01 00:00:00')"
    )
    try:
        with db.session() as session:
            started = time.monotonic()
            with db.read(session):  # a deferred BEGIN: a snapshot, no write lock
                count = session.scalar(COUNT)
            assert time.monotonic() - started < 1.0
            assert count == 0  # the writer's uncommitted row is not seen
            done = threading.Event()

            def release() -> None:
                time.sleep(0.3)
                writer.execute("COMMIT")
                done.set()

            threading.Thread(target=release).start()
            with db.write(session):  # BEGIN IMMEDIATE (with the first statement) waits for the other writer
                assert session.scalar(COUNT) == 1
                assert done.is_set()
    finally:
        writer.close()
        db.dispose()


@pytest.mark.postgres
def test_a_connection_the_server_dropped_is_replaced(database_url: str) -> None:
    """The pool pings a connection before handing it out: one the server terminated is replaced, not used."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: a server that drops connections")
    migrate.upgrade(database_url)
    db = Database(database_url)
    backend = select(func.pg_backend_pid())
    try:
        with db.session() as session, db.read(session):
            victim = session.scalar(backend)
        admin = create_engine(database_url)
        with admin.begin() as conn:
            conn.execute(select(func.pg_terminate_backend(victim)))
        admin.dispose()
        with db.session() as session:  # the terminated one comes back from the pool first
            with db.read(session):
                assert session.scalar(backend) != victim
            with db.write(session):
                assert session.scalar(COUNT) == 0
    finally:
        db.dispose()
