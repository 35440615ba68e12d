"""``lethe stay`` (staff actions on one stay), ``lethe reservations import`` and ``lethe purge``.

Every command that changes a record takes ``--reason`` (required where the
action is audited with one) and ``--actor`` (who is acting, default the login
name), and runs in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from service.cli.common import (
    actor_option,
    command_session,
    echo_json,
    reason_option,
    service_database,
)
from service.storage.private import write_new_private, write_private


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
@click.option(
    "--receipt", "receipt_path", type=click.Path(dir_okay=False, path_type=Path), help="Write receipt here (0600)."
)
def stay_checkout(reference: str, actor: str, receipt_path: Path | None) -> None:
    """Check the stay out: delete its templates and data key; print (or write) the signed receipt.

    A stay that never checked in is not checked out: that is a cancellation
    (``lethe stay cancel``), and this command refuses it.
    """
    from service.stays.forget import checkout
    from service.stays.reservations import stay_by_reference

    if receipt_path is not None and receipt_path.exists():
        raise click.UsageError(f"{receipt_path} exists; a receipt is never written over another file")
    with command_session() as (db, ring, session):
        found = stay_by_reference(session, reference)
        if found.status == "reserved":
            raise click.ClickException(
                f"stay {found.reference} never checked in: that is a cancellation, not a checkout; "
                f"run `lethe stay cancel {found.reference}`"
            )
        receipt = checkout(session, ring, found, actor=actor, now=dt.datetime.now(dt.UTC))
    erase_copies(db)
    text = json.dumps({"receipt": receipt}, indent=2)
    if receipt_path is None:
        click.echo(text)
    else:
        write_private(receipt_path, text + "\n")
        click.echo(f"receipt written to {receipt_path}")


@stay.command("cancel")
@click.argument("reference")
@actor_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def stay_cancel(reference: str, actor: str, yes: bool) -> None:
    """Cancel a reservation that never checked in: its data key is deleted and the booking QR stops working."""
    from service.stays.forget import cancel_reservation
    from service.stays.reservations import stay_by_reference

    if not yes:
        click.confirm(f"Cancel the reservation {reference.upper()}? Its booking QR stops working for good.", abort=True)
    with command_session() as (db, _ring, session):
        found = stay_by_reference(session, reference)
        deleted = cancel_reservation(session, found, actor=actor, now=dt.datetime.now(dt.UTC))
        answer = {"reference": found.reference, "status": found.status, "deleted": deleted}
    erase_copies(db)
    echo_json(answer)


@stay.command("export")
@click.argument("reference")
@reason_option
@actor_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON here (0600).")
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
        write_private(output, text + "\n")
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
    erase_copies(db)
    echo_json(erasure.as_json())


def erase_copies(db: Any) -> None:
    """:meth:`Database.erase_copies`, its ``deletion-pending`` as the CLI shows an error."""
    from service.errors import LetheError

    try:
        db.erase_copies()
    except LetheError as exc:
        raise click.ClickException(f"{exc.code}: {exc.detail}") from None


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
@click.option(
    "--cards",
    "cards_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write a printable QR card per reservation (REF.svg, 85 x 55 mm) and index.html (prints them all) "
    "into this new folder (0700, files 0600).",
)
@actor_option
def reservations_import(file: Path, codes_path: Path, cards_dir: Path | None, actor: str) -> None:
    """Create a day's arrivals from a CSV (guest_name,arrival,departure[,reference]); all rows or none.

    Neither the codes file nor the cards folder may exist already: booking codes are never written over.
    """
    import csv
    import io

    from service.stays import booking_qr
    from service.stays.reservations import import_csv

    if codes_path.exists():
        raise click.UsageError(f"{codes_path} exists; booking codes are never overwritten")
    if cards_dir is not None and cards_dir.exists():
        raise click.UsageError(f"{cards_dir} exists; QR cards are never written over (name a new folder)")
    with command_session() as (_db, ring, session):
        result = import_csv(session, ring, file.read_text(encoding="utf-8-sig"), actor=actor)
        stays = [(c.stay, str(c.booking_code)) for c in result.created]
        rows = [(stay.reference, stay.guest_name, code) for stay, code in stays]
        cards = {
            stay.reference: booking_qr.card_svg(
                guest_name=stay.guest_name,
                reference=stay.reference,
                arrival=stay.arrival.isoformat(),
                departure=stay.departure.isoformat(),
                booking_code=code,
            )
            for stay, code in stays
        }
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["reference", "guest_name", "qr_payload"])
    writer.writerows(rows)
    write_new_private(codes_path, table.getvalue())
    click.echo(f"imported {len(rows)} reservation(s); booking codes in {codes_path} (mode 0600)")
    if cards_dir is not None:
        cards_dir.mkdir(mode=0o700, parents=True)
        cards_dir.chmod(0o700)
        for name, text in [*((f"{r}.svg", card) for r, card in cards.items()), ("index.html", None)]:
            content = booking_qr.cards_index(list(cards)) if text is None else text
            write_new_private(cards_dir / name, content)
        click.echo(f"{len(cards)} QR card(s) in {cards_dir} (print index.html; mode 0600)")


@click.command()
@click.option(
    "--batch", default=2000, show_default=True, type=click.IntRange(1, 100_000), help="Stays per transaction."
)
@actor_option
def purge(batch: int, actor: str) -> None:
    """Delete what checkout missed: overdue stays, no-shows, abandoned sessions (idempotent).

    Then sign an audit checkpoint if the chain moved since the last one, as the
    service's own schedule does.
    """
    from service.stays.retention import purge_all
    from service.storage import checkpoints

    with service_database() as (_settings, database, ring):
        report = purge_all(database, actor=actor, batch=batch)
        with database.transaction() as session:
            checkpoints.record_if_moved(session, ring.receipt_key)
    echo_json(report.as_json())
