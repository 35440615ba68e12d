"""Run the Alembic migrations in ``service/storage/migrations`` programmatically (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str, key_dir: Path | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    if key_dir is not None:
        config.attributes["key_dir"] = str(key_dir)
    return config


def upgrade(url: str, revision: str = "head", *, key_dir: Path | None = None) -> None:
    """Bring the database at ``url`` to ``revision``.

    ``key_dir`` (the service's key folder) is needed when a migration must encrypt
    existing rows with the service keys (0400 seals staff TOTP secrets).
    """
    command.upgrade(alembic_config(url, key_dir), revision)


def downgrade(url: str, revision: str, *, key_dir: Path | None = None) -> None:
    """Take the database at ``url`` back to ``revision``."""
    command.downgrade(alembic_config(url, key_dir), revision)


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from service.storage.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
