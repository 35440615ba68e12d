"""``lethe stay`` (staff actions on one stay), ``lethe reservations import`` and ``lethe purge``.

Every command that changes a record takes ``--reason`` (required where the
action is audited with one) and ``--actor`` (who is acting, default the login
name), and runs in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from service.cli.common import (
    actor_option,
    command_session,
    echo_json,
    reason_option,
    service_database,
)


@click.group()
def stay() -> None:
    """Staff actions on one stay, by booking reference."""


@stay.command("show")
@click.argument("reference")
def stay_show(reference: str) -> None:
    """Show a stay: status, dates, lock, counts of attempts and held templates."""
    from sqlalchemy import func, select

    from service.stays.reservations import stay_by_reference
    from service.storage.tables import CheckinAttempt, StayKey, StoredTemplate

    with command_session() as (_db, _ring, session):
        found = stay_by_reference(session, reference)
        attempts = session.scalar(
            select(func.count()).select_from(CheckinAttempt).where(CheckinAttempt.stay_id == found.id)
        )
        templates = session.scalar(
            select(func.count()).select_from(StoredTemplate).where(StoredTemplate.stay_id == found.id)
        )
        has_key = session.get(StayKey, found.id) is not None
        echo_json(
            {
                "stay_id": found.id,
                "reference": found.reference,
                "guest_name": found.guest_name,
                "arrival": found.arrival.isoformat(),
                "departure": found.departure.isoformat(),
                "status": found.status,
                "locked": found.locked_at is not None,
                "checkin_attempts": attempts,
                "templates_held": templates,
                "data_key_held": has_key,
            }
        )


@stay.command("override")
@click.argument("reference")
@reason_option
@actor_option
def stay_override(reference: str, reason: str, actor: str) -> None:
    """Check the guest in by hand (staff checked the ID); clears a lockout."""
    from service.checkin.overrides import override_stay
    from service.stays.reservations import stay_by_reference

    with command_session() as (_db, _ring, session):
        result = override_stay(session, stay_by_reference(session, reference), actor=actor, reason=reason)
    echo_json(result.as_json())


@stay.command("unlock")
@click.argument("reference")
@reason_option
@actor_option
def stay_unlock(reference: str, reason: str, actor: str) -> None:
    """Clear a face check-in lockout (after 5 failures in 3 minutes)."""
    from service.checkin.lockout import unlock_stay
    from service.stays.reservations import stay_by_reference

    with command_session() as (_db, _ring, session):
        unlock_stay(session, stay_by_reference(session, reference), actor=actor, reason=reason)
    click.echo(f"stay {reference.upper()} unlocked")


@stay.command("checkout")
@click.argument("reference")
@actor_option
@click.option("--receipt", "receipt_path", type=click.Path(dir_okay=False, path_type=Path), help="Write receipt here.")
def stay_checkout(reference: str, actor: str, receipt_path: Path | None) -> None:
    """Check the stay out: delete its templates and data key; print (or write) the signed receipt."""
    from service.stays.forget import checkout
    from service.stays.reservations import stay_by_reference

    with command_session() as (db, ring, session):
        receipt = checkout(
            session, ring, stay_by_reference(session, reference), actor=actor, now=dt.datetime.now(dt.UTC)
        )
    db.checkpoint()
    text = json.dumps({"receipt": receipt}, indent=2)
    if receipt_path is None:
        click.echo(text)
    else:
        receipt_path.write_text(text + "\n")
        click.echo(f"receipt written to {receipt_path}")


@stay.command("export")
@click.argument("reference")
@reason_option
@actor_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON here.")
def stay_export(reference: str, reason: str, actor: str, output: Path | None) -> None:
    """Export everything held about a stay (data-subject access request); no template bytes."""
    from service.stays.datasubject import export_stay
    from service.stays.reservations import stay_by_reference

    with command_session() as (_db, _ring, session):
        document = export_stay(session, stay_by_reference(session, reference), actor=actor, reason=reason)
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n")
        click.echo(f"export written to {output}")


@stay.command("erase")
@click.argument("reference")
@reason_option
@actor_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def stay_erase(reference: str, reason: str, actor: str, yes: bool) -> None:
    """Erase a stay and everything about it (data-subject erasure request). Cannot be undone."""
    from service.stays.datasubject import erase_stay
    from service.stays.reservations import stay_by_reference

    if not yes:
        click.confirm(f"Erase stay {reference.upper()} and everything about it?", abort=True)
    with command_session() as (db, _ring, session):
        erasure = erase_stay(session, stay_by_reference(session, reference), actor=actor, reason=reason)
    db.checkpoint()
    echo_json(erasure.as_json())


@click.group()
def reservations() -> None:
    """Reservations from the PMS."""


@reservations.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--codes",
    "codes_path",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write reference,guest_name,qr_payload for the booking QRs (created 0600; shown this once).",
)
@actor_option
def reservations_import(file: Path, codes_path: Path, actor: str) -> None:
    """Create a day's arrivals from a CSV (guest_name,arrival,departure[,reference]); all rows or none."""
    import csv
    import os

    from service.stays.reservations import created_json, import_csv

    if codes_path.exists():
        raise click.UsageError(f"{codes_path} exists; booking codes are never overwritten")
    with command_session() as (_db, ring, session):
        result = import_csv(session, ring, file.read_text(encoding="utf-8-sig"), actor=actor)
        rows = [(c.stay.reference, c.stay.guest_name, created_json(c)["qr_payload"]) for c in result.created]
    fd = os.open(codes_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["reference", "guest_name", "qr_payload"])
        writer.writerows(rows)
    click.echo(f"imported {len(rows)} reservation(s); booking codes in {codes_path} (mode 0600)")


@click.command()
@click.option(
    "--batch", default=2000, show_default=True, type=click.IntRange(1, 100_000), help="Stays per transaction."
)
@actor_option
def purge(batch: int, actor: str) -> None:
    """Delete what checkout missed: overdue stays, no-shows, abandoned sessions (idempotent)."""
    from service.stays.retention import purge_all

    with service_database() as (_settings, database, _ring):
        report = purge_all(database, actor=actor, batch=batch)
    echo_json(report.as_json())
