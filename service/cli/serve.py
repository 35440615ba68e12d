"""``lethe serve`` (gunicorn) and ``lethe db upgrade``."""

from __future__ import annotations

from pathlib import Path

import click

from service.cli.common import load_service_settings, prepare


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn workers (4 threads each)."
)
@click.option("--check-config", is_flag=True, help="Print the effective settings and exit.")
def serve(host: str, port: int, workers: int, check_config: bool) -> None:
    """Run the verification service (migrates the database and creates keys first)."""
    settings = load_service_settings()
    if check_config:
        click.echo(settings.describe())
        return
    prepare(settings)
    from service.web.server import serve as run

    run(settings, host=host, port=port, workers=workers)


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Apply every pending migration (from any earlier release's schema); say from which revision to which.

    Take a backup first (lethe backup): a migration cannot be undone by the service.
    """
    from sqlalchemy.engine import make_url

    from service.storage import migrate

    settings = load_service_settings()
    url = settings.resolved_database_url
    sqlite_file = make_url(url).database if url.startswith("sqlite") else None
    before = None if sqlite_file is not None and not Path(sqlite_file).exists() else migrate.current(url)
    prepare(settings)
    after = migrate.current(url)
    if before == after:
        click.echo(f"database is up to date (schema {after})")
    else:
        click.echo(f"database upgraded from schema {before or 'none'} to {after}; it is up to date")
