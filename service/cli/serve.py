"""``lethe serve`` (gunicorn), ``lethe init`` and ``lethe db upgrade``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from service.cli.common import load_service_settings, open_database, prepare, require_instance


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn workers (4 threads each)."
)
@click.option("--check-config", is_flag=True, help="Print the effective settings and exit.")
@click.option(
    "--print-env",
    is_flag=True,
    help="Print an environment file naming every LETHE_* setting with its default (deploy/lethe.env) and exit.",
)
def serve(host: str, port: int, workers: int, check_config: bool, print_env: bool) -> None:
    """Run the verification service (migrates the database and creates keys first)."""
    if print_env:
        from service.settings import Settings

        click.echo(Settings.environment_file(), nl=False)
        return
    settings = load_service_settings()
    if check_config:
        click.echo(settings.describe())
        return
    prepare(settings)
    for line in startup_lines(settings, host, port):
        click.echo(line)
    from service.web.server import serve as run

    run(settings, host=host, port=port, workers=workers)


def startup_lines(settings: Any, host: str, port: int) -> list[str]:
    """What lethe serve says before it starts: which instance, where the panel and the APIs are, what is missing."""
    from sqlalchemy import func, select

    from service.storage.tables import StaffAccount

    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    lines = [
        f"Lethe service: instance folder {settings.instance_path.resolve()}",
        f"  staff panel  {base}/panel/" + (f"  (public: {settings.public_url}/panel/)" if settings.public_url else ""),
        f"  kiosk API    {base}/api/v1/    PMS API {base}/pms/v1/    health {base}/healthz",
    ]
    database = open_database(settings)
    try:
        with database.transaction() as session:
            admins = session.scalar(
                select(func.count())
                .select_from(StaffAccount)
                .where(StaffAccount.role == "admin", StaffAccount.disabled_at.is_(None))
            )
    finally:
        database.dispose()
    if not admins:
        lines.append("  no admin yet: run lethe staff create --role admin (with this instance's settings)")
    return lines


@click.command()
def init() -> None:
    """Create the instance (folder, keys, database) without serving; lethe serve does it too."""
    settings = load_service_settings()
    prepare(settings)
    click.echo(f"instance ready in {settings.instance_path.resolve()}")


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Apply every pending migration (from any earlier release's schema) to an existing instance; say from which
    revision to which.

    Take a backup first (lethe backup): a migration cannot be undone by the service.
    """
    from sqlalchemy.engine import make_url

    from service.storage import migrate

    settings = load_service_settings()
    url = settings.resolved_database_url
    sqlite_file = make_url(url).database if url.startswith("sqlite") else None
    before = None if sqlite_file is not None and not Path(sqlite_file).exists() else migrate.current(url)
    require_instance(settings)  # refuses a missing instance; brings an existing one's schema up to date
    after = migrate.current(url)
    if before == after:
        click.echo(f"database is up to date (schema {after})")
    else:
        click.echo(f"database upgraded from schema {before or 'none'} to {after}; it is up to date")
