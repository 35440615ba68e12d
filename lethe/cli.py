"""The ``lethe`` command: one entry point for the service, the kiosk, models and the demo."""

from __future__ import annotations

import logging

import click

from edge.cli import kiosk
from lethe import __version__
from lethe.demo import demo
from models.cli import media, models
from service.cli import db, device, integration, receipt, serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lethe")
def main() -> None:
    """Lethe: privacy-preserving face check-in for hotels.

    Service side: serve, db, device, integration, receipt. Kiosk side: kiosk.
    Both: models, media. Try it all at once: demo.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


for command in (serve, db, device, integration, receipt, kiosk, models, media, demo):
    main.add_command(command)
