"""The database helpers the verification hot path relies on: a read that never waits for SQLite's writer."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from service import migrate
from service.db import Database
from service.models import Kiosk

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
        with db.connect() as conn:
            started = time.monotonic()
            count = conn.run(COUNT).scalar()  # outside a transaction: autocommit
            assert time.monotonic() - started < 1.0
            assert count == 0  # the writer's uncommitted row is not seen
            done = threading.Event()

            def release() -> None:
                time.sleep(0.3)
                writer.execute("COMMIT")
                done.set()

            threading.Thread(target=release).start()
            with db.write(conn):  # BEGIN IMMEDIATE: waits for the other writer to commit
                assert done.is_set()
                assert conn.run(COUNT).scalar() == 1
    finally:
        writer.close()
        db.dispose()
