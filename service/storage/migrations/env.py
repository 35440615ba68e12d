"""Alembic environment: migrates the database named by the caller (see ``service/storage/migrate.py``)."""

from __future__ import annotations

from alembic import context

from service.storage.db import make_engine
from service.storage.tables import Base

config = context.config
url = config.attributes["database_url"]
engine = make_engine(url)
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
finally:
    engine.dispose()
