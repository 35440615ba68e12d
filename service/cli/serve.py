"""``lethe serve`` (gunicorn), ``lethe init`` and ``lethe db upgrade``."""

from __future__ import annotations

import click

from service.cli.common import load_service_settings, prepare


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
    from service.web.server import serve as run

    run(settings, host=host, port=port, workers=workers)


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
    """Apply every pending migration."""
    settings = load_service_settings()
    prepare(settings)
    click.echo("database is up to date")
