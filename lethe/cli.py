"""The ``lethe`` command: one entry point for the service, the kiosk, models and the demo.

Each subcommand is imported when it runs (or when ``--help`` lists it), so a server with only
``lethe-checkin[service]`` installed runs ``lethe serve`` without the kiosk's libraries; a command
whose extra is missing says which one to install.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from lethe import __version__

# Subcommand name -> "module:attribute", imported on first use.
COMMANDS = {
    "serve": "service.cli.serve:serve",
    "init": "service.cli.serve:init",
    "db": "service.cli.serve:db",
    "backup": "service.cli.backup:backup",
    "restore": "service.cli.backup:restore",
    "device": "service.cli.devices:device",
    "integration": "service.cli.devices:integration",
    "receipt": "service.cli.keys:receipt",
    "stay": "service.cli.stays:stay",
    "purge": "service.cli.stays:purge",
    "audit": "service.cli.keys:audit",
    "keys": "service.cli.keys:keys",
    "reservations": "service.cli.stays:reservations",
    "property": "service.cli.property:property_group",
    "staff": "service.cli.staff:staff",
    "booking": "lethe.booking:booking",
    "kiosk": "edge.cli:kiosk",
    "models": "models.cli:models",
    "media": "models.cli:media",
    "demo": "lethe.demo:demo",
    "eval": "lethe.eval:evaluate",
    "bench": "lethe.bench.commands:bench",
}

# A missing top-level module -> the extra that brings it.
EXTRAS = {
    "flask": "service",
    "werkzeug": "service",
    "sqlalchemy": "service",
    "alembic": "service",
    "gunicorn": "service",
    "argon2": "service",
    "flask_wtf": "service",
    "wtforms": "service",
    "pyotp": "service",
    "limits": "service",
    "redis": "service",
    "requests": "service",
    "prometheus_client": "service",
    "psycopg": "service",
    "structlog": "service",
    "segno": "service",
    "standardwebhooks": "service",
    "cv2": "kiosk",
    "dlib": "kiosk",
    "onnx": "kiosk",
    "onnxruntime": "kiosk",
    "ai_edge_litert": "kiosk",
    "face_recognition_models": "kiosk",
    "PIL": "kiosk",
    "matplotlib": "eval",
    "scipy": "eval",
}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The extra that installs the module ``exc`` names, if it is one of ours to install."""
    return EXTRAS.get((exc.name or "").split(".")[0])


def _install_hint(exc: ModuleNotFoundError) -> str:
    extra = missing_extra(exc)
    return f"{exc.name} is not installed: this command needs pip install 'lethe-checkin[{extra}]'"


class LazyGroup(click.Group):
    """A click group whose subcommands (``"module:attribute"``) are imported when first needed."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self._lazy:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = self._lazy[cmd_name].split(":")
        try:
            command: click.Command = getattr(importlib.import_module(module_name), attribute)
        except ModuleNotFoundError as exc:
            if missing_extra(exc) is None:
                raise
            return _unavailable(cmd_name, _install_hint(exc))
        self.add_command(command, cmd_name)
        return command


def _unavailable(name: str, hint: str) -> click.Command:
    def refuse() -> None:
        raise click.ClickException(hint)

    return click.Command(name, callback=refuse, help=f"(not installed: {hint})", short_help=f"({hint})")


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lethe")
def main() -> None:
    """Lethe: privacy-preserving face check-in for hotels.

    Service side (lethe-checkin[service]): serve, init, db, backup, restore, device, integration, receipt, stay, purge,
    audit, keys, reservations, property, staff, booking. Kiosk side (lethe-checkin[kiosk]): kiosk,
    models, media. Measurements (lethe-checkin[eval]): eval, bench. Try it all at once: demo.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def run(args: list[str] | None = None) -> None:
    """The console entry point: :data:`main`, with a missing optional library named by the extra that brings it."""
    try:
        main.main(args)
    except ModuleNotFoundError as exc:
        if missing_extra(exc) is None:
            raise
        click.echo(f"Error: {_install_hint(exc)}", err=True)
        sys.exit(1)
