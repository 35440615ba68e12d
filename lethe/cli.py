"""The ``lethe`` command: one entry point for the service, the kiosk, models and the demo."""

from __future__ import annotations

import logging

import click

from edge.cli import kiosk
from lethe import __version__
from lethe.bench import bench
from lethe.bench import service as bench_service
from lethe.bench.kiosk import kiosk as bench_kiosk
from lethe.bench.screen import screen as bench_screen
from lethe.booking import booking
from lethe.demo import demo
from lethe.eval import evaluate
from models.cli import media, models
from service.cli import db, device, integration, receipt, serve
from service.cli_admin import audit, keys, property_group, purge, reservations, stay
from service.panel.cli import staff


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lethe")
def main() -> None:
    """Lethe: privacy-preserving face check-in for hotels.

    Service side: serve, db, device, integration, receipt, stay, purge, audit, keys,
    reservations, property, staff, booking. Kiosk side: kiosk.
    Both: models, media. Measurements: eval, bench. Try it all at once: demo.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


for command in (serve, db, device, integration, receipt, kiosk, models, media, demo, evaluate, booking, bench, staff):
    main.add_command(command)
for command in (stay, purge, audit, keys, reservations, property_group):  # operator commands (service/cli_admin.py)
    main.add_command(command)
for command in (bench_kiosk, bench_screen, *bench_service.COMMANDS):  # lethe bench kiosk | screen | verify | purge
    bench.add_command(command)
