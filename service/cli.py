"""Service-side commands: ``serve``, ``db``, ``device``, ``integration``, ``receipt``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def load_service_settings(**overrides: Any) -> Any:
    from config import ConfigError
    from service.settings import Settings

    try:
        return Settings.from_env(**overrides)
    except ConfigError as exc:
        raise click.UsageError(f"configuration: {exc}") from None


def prepare(settings: Any) -> None:
    """Create the instance folder and keys, and bring the schema up to date."""
    from service import keyring, migrate

    settings.instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    keyring.load_or_create(settings.resolved_key_dir)
    migrate.upgrade(settings.resolved_database_url, key_dir=settings.resolved_key_dir)


def open_database(settings: Any) -> Any:
    from service.db import Database

    return Database(settings.resolved_database_url)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn sync workers.")
@click.option("--check-config", is_flag=True, help="Print the effective settings and exit.")
def serve(host: str, port: int, workers: int, check_config: bool) -> None:
    """Run the verification service (migrates the database and creates keys first)."""
    settings = load_service_settings()
    if check_config:
        click.echo(settings.describe())
        return
    prepare(settings)
    from service.server import serve as run

    run(settings, host=host, port=port, workers=workers)


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Apply every pending migration."""
    settings = load_service_settings()
    prepare(settings)
    click.echo("database is up to date")


@click.group()
def device() -> None:
    """Kiosk devices."""


@device.command("code")
@click.option("--name", required=True, help="Name of the kiosk that will use the code, e.g. 'Lobby 1'.")
def device_code(name: str) -> None:
    """Create a one-time enrolment code (shown once) for a kiosk to register with."""
    import datetime as dt

    from service.kiosks import create_enrolment_code

    settings = load_service_settings()
    prepare(settings)
    database = open_database(settings)
    with database.transaction() as session:
        issued = create_enrolment_code(
            session, kiosk_name=name, ttl_s=settings.enrolment_code_ttl_s, actor="cli", now=dt.datetime.now(dt.UTC)
        )
    database.dispose()
    click.echo(f"{issued.code}  (expires {issued.expires_at.isoformat(timespec='seconds')})")


@click.group()
def integration() -> None:
    """PMS integrations."""


@integration.command("create")
@click.argument("name")
def integration_create(name: str) -> None:
    """Create a PMS integration and print its API key (shown once)."""
    from service.errors import LetheError
    from service.integrations import create_integration

    settings = load_service_settings()
    prepare(settings)
    database = open_database(settings)
    try:
        with database.transaction() as session:
            key = create_integration(session, name=name, actor="cli")
    except LetheError as exc:
        raise click.ClickException(exc.detail) from None
    finally:
        database.dispose()
    click.echo(key)


@click.group()
def receipt() -> None:
    """Deletion receipts."""


@receipt.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The service's receipt public key (PEM).",
)
def receipt_verify(file: Path, public_key: Path) -> None:
    """Verify a deletion receipt offline; exit 0 if valid, 1 if not."""
    from protocol import InvalidSignature, VerifyKey, verify_receipt

    try:
        key = VerifyKey.from_pem(public_key.read_bytes())
        document = json.loads(file.read_text())
        claims = verify_receipt(document.get("receipt", document), key)
    except (ValueError, InvalidSignature, AttributeError) as exc:
        click.echo(f"INVALID receipt: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(
        f"VALID deletion receipt {claims.receipt_id}: {claims.templates} template(s) and "
        f"{claims.data_keys} data key(s) deleted at {claims.deleted_at.isoformat()} (key {key.key_id.hex()})"
    )
