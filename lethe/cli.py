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
from service.cli.backup import audit_deletions, backup, restore
from service.cli.devices import device, integration
from service.cli.keys import audit, keys, receipt
from service.cli.property import property_group
from service.cli.serve import db, serve
from service.cli.staff import staff
from service.cli.stays import purge, reservations, stay


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lethe")
def main() -> None:
    """Lethe: privacy-preserving face check-in for hotels.

    Service side: serve, db, backup, restore, device, integration, receipt, stay, purge,
    audit, keys, reservations, property, staff, booking. Kiosk side: kiosk.
    Both: models, media. Measurements: eval, bench. Try it all at once: demo.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


audit.add_command(audit_deletions)
for command in (
    serve,
    db,
    backup,
    restore,
    device,
    integration,
    receipt,
    stay,
    purge,
    audit,
    keys,
    reservations,
    property_group,
    staff,
):
    main.add_command(command)
for command in (kiosk, models, media, demo, evaluate, booking, bench):
    main.add_command(command)
for command in (bench_kiosk, bench_screen, *bench_service.COMMANDS):  # lethe bench kiosk | screen | verify | purge
    bench.add_command(command)
