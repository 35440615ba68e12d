"""The Alembic migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import DateTime

from service.storage import migrate
from service.storage.db import make_engine
from service.storage.tables import Base, UTCDateTime


def _compare_type(context, inspected, metadata, inspected_type, metadata_type) -> bool | None:
    if isinstance(metadata_type, UTCDateTime) and isinstance(inspected_type, DateTime):
        return False
    return None


def test_migrations_match_the_models(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": _compare_type})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
    assert migrate.current(database_url) is not None
