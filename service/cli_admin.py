"""Operator commands: ``device list|suspend|resume|revoke``, ``stay …``, ``purge``, ``audit verify``.

Every command that changes a record takes ``--reason`` (required where the
action is audited with one) and ``--actor`` (who is acting, default the login
name), and runs in one transaction.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from service.cli import device, load_service_settings, open_database, prepare

T = TypeVar("T")


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


actor_option = click.option("--actor", default=_default_actor, show_default="cli:<login>", help="Who is acting.")
reason_option = click.option("--reason", required=True, help="Why (written to the audit log).")


@contextmanager
def _session() -> Iterator[tuple[Any, Any, Session]]:
    from service import keyring
    from service.errors import LetheError, OperatorError

    settings = load_service_settings()
    prepare(settings)
    database = open_database(settings)
    ring = keyring.load_or_create(settings.resolved_key_dir)
    try:
        with database.transaction() as session:
            yield database, ring, session
    except OperatorError as exc:
        raise click.ClickException(str(exc)) from None
    except LetheError as exc:
        raise click.ClickException(f"{exc.code}: {exc.detail}") from None
    finally:
        database.dispose()


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


# -- devices -------------------------------------------------------------------------------------


@device.command("list")
@click.option("--status", type=click.Choice(["active", "suspended", "revoked"]), help="Only kiosks in this state.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def device_list(status: str | None, as_json: bool) -> None:
    """List registered kiosks: id, name, status, key id, last seen."""
    from service.kiosks import list_kiosks

    with _session() as (_db, _ring, session):
        found = list_kiosks(session, status=status)
    if as_json:
        _echo_json([k.as_json() for k in found])
        return
    for k in found:
        seen = k.last_seen_at.isoformat(timespec="seconds") if k.last_seen_at else "never"
        click.echo(f"{k.id}  {k.status:<9}  key {k.key_id}  last seen {seen}  {k.name}")


def _device_action(name: str, doc: str, call: Callable[..., Any]) -> None:
    @device.command(name, help=doc)
    @click.argument("kiosk_id")
    @reason_option
    @actor_option
    def command(kiosk_id: str, reason: str, actor: str) -> None:
        with _session() as (_db, _ring, session):
            info = call(session, kiosk_id, actor=actor, reason=reason)
        click.echo(f"kiosk {info.id} is now {info.status}")


def _register_device_actions() -> None:
    from service import kiosks

    _device_action(
        "suspend", "Suspend a kiosk: its requests are refused (kiosk-suspended) until resumed.", kiosks.suspend_kiosk
    )
    _device_action("resume", "Resume a suspended kiosk.", kiosks.resume_kiosk)
    _device_action("revoke", "Revoke a kiosk for good (kiosk-revoked); it must register again.", kiosks.revoke_kiosk)


_register_device_actions()


# -- stays ---------------------------------------------------------------------------------------


@click.group()
def stay() -> None:
    """Staff actions on one stay, by booking reference."""


@stay.command("show")
@click.argument("reference")
def stay_show(reference: str) -> None:
    """Show a stay: status, dates, lock, counts of attempts and held templates."""
    from sqlalchemy import func, select

    from service.models import CheckinAttempt, StayKey, StoredTemplate
    from service.reservations import stay_by_reference

    with _session() as (_db, _ring, session):
        found = stay_by_reference(session, reference)
        attempts = session.scalar(
            select(func.count()).select_from(CheckinAttempt).where(CheckinAttempt.stay_id == found.id)
        )
        templates = session.scalar(
            select(func.count()).select_from(StoredTemplate).where(StoredTemplate.stay_id == found.id)
        )
        has_key = session.get(StayKey, found.id) is not None
        _echo_json(
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
    from service.overrides import override_stay
    from service.reservations import stay_by_reference

    with _session() as (_db, _ring, session):
        result = override_stay(session, stay_by_reference(session, reference), actor=actor, reason=reason)
    _echo_json(result.as_json())


@stay.command("unlock")
@click.argument("reference")
@reason_option
@actor_option
def stay_unlock(reference: str, reason: str, actor: str) -> None:
    """Clear a face check-in lockout (after 5 failures in 3 minutes)."""
    from service.lockout import unlock_stay
    from service.reservations import stay_by_reference

    with _session() as (_db, _ring, session):
        unlock_stay(session, stay_by_reference(session, reference), actor=actor, reason=reason)
    click.echo(f"stay {reference.upper()} unlocked")


@stay.command("checkout")
@click.argument("reference")
@actor_option
@click.option("--receipt", "receipt_path", type=click.Path(dir_okay=False, path_type=Path), help="Write receipt here.")
def stay_checkout(reference: str, actor: str, receipt_path: Path | None) -> None:
    """Check the stay out: delete its templates and data key; print (or write) the signed receipt."""
    from service.reservations import checkout, stay_by_reference

    with _session() as (db, ring, session):
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
    from service.datasubject import export_stay
    from service.reservations import stay_by_reference

    with _session() as (_db, _ring, session):
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
    from service.datasubject import erase_stay
    from service.reservations import stay_by_reference

    if not yes:
        click.confirm(f"Erase stay {reference.upper()} and everything about it?", abort=True)
    with _session() as (db, _ring, session):
        erasure = erase_stay(session, stay_by_reference(session, reference), actor=actor, reason=reason)
    db.checkpoint()
    _echo_json(erasure.as_json())


# -- retention and audit -------------------------------------------------------------------------


@click.command()
@click.option(
    "--batch", default=2000, show_default=True, type=click.IntRange(1, 100_000), help="Stays per transaction."
)
@actor_option
def purge(batch: int, actor: str) -> None:
    """Delete what checkout missed: overdue stays, no-shows, abandoned sessions (idempotent)."""
    from service.retention import purge_all

    settings = load_service_settings()
    prepare(settings)
    database = open_database(settings)
    try:
        report = purge_all(database, actor=actor, batch=batch)
    finally:
        database.dispose()
    _echo_json(report.as_json())


@click.group()
def audit() -> None:
    """The append-only audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Check the whole hash chain; exit 1 naming the first broken entry."""
    from service.audit import verify_chain

    with _session() as (_db, _ring, session):
        report = verify_chain(session)
    if report.ok:
        click.echo(f"audit log OK: {report.entries} entries, chain intact")
        return
    click.echo(f"audit log BROKEN at entry {report.first_broken}: {report.problem}", err=True)
    raise SystemExit(1)


# -- keys ----------------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """The service's keys: list, rotate, re-wrap, retire (running workers reload by themselves)."""


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_list(as_json: bool) -> None:
    """List keys (ids and dates, never secrets), newest first; KEKs with how many stays they wrap."""
    from service.keys import list_keys

    settings = load_service_settings()
    with _session() as (_db, _ring, session):
        found = list_keys(settings.resolved_key_dir, session)
    if as_json:
        _echo_json([k.as_json() for k in found])
        return
    for k in found:
        wraps = "" if k.wraps is None else f"  wraps {k.wraps} stay(s)"
        flag = "current" if k.current else "older  "
        click.echo(f"{k.kind:<21} {k.key_id}  {flag}  {k.created.isoformat(timespec='seconds')}{wraps}")


@keys.command("rotate")
@click.argument("group", type=click.Choice(["hpke", "kek", "receipt", "staff", "all"]))
@click.option("--no-rewrap", is_flag=True, help="With kek: leave stored stay keys under the older KEK for now.")
@actor_option
def keys_rotate(group: str, no_rewrap: bool, actor: str) -> None:
    """Add a new key; a new KEK also re-wraps every stored stay key, a new staff key re-seals TOTP secrets."""
    from service.keys import rewrap, rotate

    settings = load_service_settings()
    groups = ["hpke", "kek", "receipt", "staff"] if group == "all" else [group]
    with _session() as (_db, _ring, session):
        for name in groups:
            for key in rotate(settings.resolved_key_dir, name, session=session, actor=actor):
                click.echo(f"added {key.kind} key {key.key_id}")
    if "kek" in groups and not no_rewrap:
        database = open_database(settings)
        try:
            click.echo(f"re-wrapped {rewrap(database, settings.resolved_key_dir, actor=actor)} stay key(s)")
        finally:
            database.dispose()


@keys.command("rewrap")
@actor_option
def keys_rewrap(actor: str) -> None:
    """Re-wrap every stored stay key under the newest KEK (idempotent)."""
    from service.keys import rewrap

    settings = load_service_settings()
    prepare(settings)
    database = open_database(settings)
    try:
        click.echo(f"re-wrapped {rewrap(database, settings.resolved_key_dir, actor=actor)} stay key(s)")
    finally:
        database.dispose()


@keys.command("retire")
@click.argument("key_id")
@actor_option
def keys_retire(key_id: str, actor: str) -> None:
    """Delete an older key (refused for the newest of a kind or a KEK still in use)."""
    from service.keys import retire

    settings = load_service_settings()
    with _session() as (_db, _ring, session):
        retired = retire(settings.resolved_key_dir, key_id, session=session, actor=actor)
    click.echo(f"retired {retired.kind} key {retired.key_id}")


# -- reservations --------------------------------------------------------------------------------


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

    from service.stays import import_csv

    if codes_path.exists():
        raise click.UsageError(f"{codes_path} exists; booking codes are never overwritten")
    with _session() as (_db, ring, session):
        result = import_csv(session, ring, file.read_text(encoding="utf-8-sig"), actor=actor)
        rows = [(c.stay.reference, c.stay.guest_name, str(c.booking_code)) for c in result.created]
    fd = os.open(codes_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["reference", "guest_name", "qr_payload"])
        writer.writerows(rows)
    click.echo(f"imported {len(rows)} reservation(s); booking codes in {codes_path} (mode 0600)")
