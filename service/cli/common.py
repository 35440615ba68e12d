"""What the service's commands share: settings, preparing the instance, one transaction per command, options."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy.orm import Session


def load_service_settings(**overrides: Any) -> Any:
    from config import ConfigError
    from service.settings import Settings

    try:
        return Settings.from_env(**overrides)
    except ConfigError as exc:
        raise click.UsageError(f"configuration: {exc}") from None


def prepare(settings: Any) -> None:
    """Create the instance folder and keys, and bring the schema up to date (lethe serve, lethe init)."""
    from service import keyring
    from service.storage import migrate
    from service.storage.private import private_folder

    private_folder(settings.instance_path)
    keyring.load_or_create(settings.resolved_key_dir)
    migrate.upgrade(settings.resolved_database_url, key_dir=settings.resolved_key_dir)


def require_instance(settings: Any) -> None:
    """Refuse to work on an instance that does not exist (its key folder is missing), naming where it looked;
    bring an existing one's schema up to date. Only lethe serve and lethe init create an instance."""
    key_dir = settings.resolved_key_dir.resolve()
    if not key_dir.is_dir():
        raise click.ClickException(
            f"no Lethe instance in {settings.instance_path.resolve()} (no key folder {key_dir}). Run this where "
            "lethe serve runs, or set LETHE_INSTANCE_PATH (or instance_path in the system-wide settings file "
            f"{settings.config_file}) to its folder; lethe init creates a new instance."
        )
    prepare(settings)


def open_database(settings: Any) -> Any:
    from service.storage.db import Database

    return Database(settings.resolved_database_url)


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


actor_option = click.option("--actor", default=_default_actor, show_default="cli:<login>", help="Who is acting.")


reason_option = click.option("--reason", required=True, help="Why (written to the audit log).")


@contextmanager
def service_database() -> Iterator[tuple[Any, Any, Any]]:
    """The settings, the prepared database and the keyring, for one command; its errors as the CLI shows them."""
    from service import keyring
    from service.errors import LetheError, OperatorError

    settings = load_service_settings()
    require_instance(settings)
    database = open_database(settings)
    try:
        yield settings, database, keyring.load_or_create(settings.resolved_key_dir)
    except OperatorError as exc:
        raise click.ClickException(str(exc)) from None
    except LetheError as exc:
        raise click.ClickException(f"{exc.code}: {exc.detail}") from None
    finally:
        database.dispose()


@contextmanager
def command_session() -> Iterator[tuple[Any, Any, Session]]:
    """:func:`service_database` with one transaction: the database, the keyring and the session."""
    with service_database() as (_settings, database, ring), database.transaction() as session:
        yield database, ring, session


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))
