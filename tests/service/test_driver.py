"""Core statements on the driver's cursor (``service.driver``), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, func, insert, select, update

from service import migrate
from service.db import Database
from service.errors import DatabaseUnavailable
from service.models import Kiosk, UTCDateTime

ADD = (
    insert(Kiosk)
    .values(
        id=bindparam("id"),
        name=bindparam("name"),
        public_key=bindparam("key", type_=Kiosk.__table__.c.public_key.type),
        status="active",
        created_at=bindparam("at", type_=UTCDateTime()),
    )
    .inline()
)
SEEN = update(Kiosk).where(Kiosk.id == bindparam("id")).values(last_seen_at=bindparam("at", type_=UTCDateTime()))
ONE = select(Kiosk.name, Kiosk.public_key, Kiosk.created_at, Kiosk.last_seen_at).where(Kiosk.id == bindparam("id"))
COUNT = select(func.count()).select_from(Kiosk)
BACKEND = select(func.pg_backend_pid())
AT = dt.datetime(2026, 12, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)


@pytest.fixture
def db(database_url: str):
    migrate.upgrade(database_url)
    database = Database(database_url)
    yield database
    database.dispose()


def test_values_and_rows_go_through_the_column_types(db: Database) -> None:
    with db.connect() as conn:
        with db.write(conn):
            conn.run(ADD, {"id": "k1", "name": "Lobby", "key": b"\x00\xff" * 16, "at": AT})
            seen = conn.run(SEEN, {"id": "k1", "at": AT + dt.timedelta(seconds=1)})
            assert seen.rowcount == 1  # a result read inside the transaction (on PostgreSQL: sent then)
            missing = conn.run(SEEN, {"id": "nobody", "at": AT})
        assert missing.rowcount == 0
        row = conn.run(ONE, {"id": "k1"}).first()
    assert (row.name, row.public_key) == ("Lobby", b"\x00\xff" * 16)
    assert row.created_at == AT  # timezone-aware UTC again, microseconds kept
    assert row.last_seen_at == AT + dt.timedelta(seconds=1)


def _add_then_fail(db: Database, conn) -> None:
    with db.write(conn):
        conn.run(ADD, {"id": "k2", "name": "Lobby", "key": b"k" * 32, "at": AT})
        raise RuntimeError("a check failed after the first write")


def _update_then_add_a_duplicate(db: Database, conn) -> None:
    with db.write(conn):
        conn.run(SEEN, {"id": "k3", "at": AT + dt.timedelta(hours=1)})
        conn.run(ADD, {"id": "k3", "name": "Again", "key": b"k" * 32, "at": AT})  # primary key taken


def test_a_failed_transaction_leaves_nothing(db: Database) -> None:
    with db.connect() as conn:
        with pytest.raises(RuntimeError):
            _add_then_fail(db, conn)
        assert conn.run(COUNT).scalar() == 0
        with db.write(conn):  # the connection is usable again
            conn.run(ADD, {"id": "k2", "name": "Lobby", "key": b"k" * 32, "at": AT})
        assert conn.run(COUNT).scalar() == 1


def test_a_statement_that_fails_rolls_the_transaction_back(db: Database) -> None:
    with db.connect() as conn:
        with db.write(conn):
            conn.run(ADD, {"id": "k3", "name": "Lobby", "key": b"k" * 32, "at": AT})
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            _update_then_add_a_duplicate(db, conn)
        row = conn.run(ONE, {"id": "k3"}).first()
    assert row.last_seen_at is None  # the update before the failing insert was rolled back with it


def test_text_values_are_bound_not_spliced(db: Database) -> None:
    hostile = "x'); DELETE FROM kiosks; --"
    with db.connect() as conn:
        with db.write(conn):
            conn.run(ADD, {"id": "k4", "name": hostile, "key": b"'\\" * 16, "at": AT})
            conn.run(ADD, {"id": "k5", "name": "Other", "key": b"k" * 32, "at": AT})
        assert conn.run(ONE, {"id": "k4"}).first().name == hostile
        assert conn.run(COUNT).scalar() == 2


def test_a_database_that_is_gone_is_unavailable(tmp_path) -> None:
    database = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    try:
        with pytest.raises(DatabaseUnavailable), database.connect() as conn:
            conn.run(COUNT).scalar()
    finally:
        database.dispose()


def _write_first(database: Database) -> None:
    with database.connect() as conn, database.write(conn):
        conn.run(SEEN, {"id": "k1", "at": AT}).rowcount  # noqa: B018 (reading the result sends the statement)


@pytest.mark.postgres
def test_a_connection_the_server_dropped_is_replaced_for_a_read(database_url: str) -> None:
    """No ping before each checkout: a read that is the first statement on a dead connection runs on a new one."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: a server that drops connections")
    migrate.upgrade(database_url)
    database = Database(database_url)
    try:
        with database.connect() as conn:
            victim = conn.run(BACKEND).scalar()
        with database.connect() as conn:  # the same pooled connection, terminated by the server meanwhile
            with database.engine.begin() as admin:
                admin.execute(select(func.pg_terminate_backend(victim)))
            assert conn.run(BACKEND).scalar() != victim
        with database.connect() as conn:
            victim = conn.run(BACKEND).scalar()
        with database.engine.begin() as admin:
            admin.execute(select(func.pg_terminate_backend(victim)))
        with pytest.raises(DatabaseUnavailable):  # a write is never run twice
            _write_first(database)
        with database.connect() as conn:  # and the dead connection is gone from the pool
            assert conn.run(COUNT).scalar() == 0
    finally:
        database.dispose()
