"""Reservations and stays: creation (with the stay secret), lookup, and checkout with a receipt."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, delete, select
from sqlalchemy.orm import Session

from protocol import BookingCode, new_stay_secret, sign_receipt
from protocol.vault import new_key_seed, wrap_key_seed
from service import audit
from service.errors import AlreadyExists, StayNotActive, UnknownBooking
from service.keyring import Keyring
from service.models import Stay, StayKey, StoredTemplate

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the desk
ACTIVE = ("reserved", "checked_in")


@dataclass(frozen=True)
class NewReservation:
    stay: Stay
    booking_code: BookingCode


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))


def create_reservation(
    session: Session,
    keyring: Keyring,
    *,
    guest_name: str,
    arrival: dt.date,
    departure: dt.date,
    actor: str,
    reference: str | None = None,
) -> NewReservation:
    """Create a stay with a fresh stay secret and a wrapped template key seed.

    The returned booking code holds the secret; it is shown once (for the booking
    QR) and never stored: the stay keeps only its fingerprint.
    """
    reference = reference or new_reference()
    if session.scalars(select(Stay.id).where(Stay.reference == reference)).first() is not None:
        raise AlreadyExists(f"a reservation with reference {reference} exists")
    code = BookingCode(reference, new_stay_secret())
    stay = Stay(
        id=str(uuid.uuid4()),
        reference=reference,
        guest_name=guest_name,
        arrival=arrival,
        departure=departure,
        secret_fingerprint=code.fingerprint,
    )
    session.add(stay)
    session.flush()
    kek_id = keyring.current_kek_id
    session.add(
        StayKey(
            stay_id=stay.id,
            kek_id=kek_id,
            wrapped_seed=wrap_key_seed(keyring.kek(kek_id), new_key_seed(), stay_id=stay.id),
        )
    )
    audit.append(session, actor=actor, action="stay.create", subject=stay.id)
    return NewReservation(stay, code)


def stay_by_reference(session: Session, reference: str) -> Stay:
    stay = session.scalars(select(Stay).where(Stay.reference == reference.upper())).first()
    if stay is None:
        raise UnknownBooking()
    return stay


def checkout(session: Session, keyring: Keyring, stay: Stay, *, actor: str, now: dt.datetime) -> dict[str, Any]:
    """Check a stay out: delete its templates and data key in this transaction, return a signed receipt."""
    if stay.status not in ACTIVE:
        raise StayNotActive()
    templates = _deleted(session, delete(StoredTemplate).where(StoredTemplate.stay_id == stay.id))
    keys = _deleted(session, delete(StayKey).where(StayKey.stay_id == stay.id))
    stay.status = "checked_out"
    stay.checked_out_at = now
    receipt_id = str(uuid.uuid4())
    claims = {
        "type": "lethe.deletion-receipt",
        "version": 1,
        "receipt_id": receipt_id,
        "stay_ref_digest": stay.secret_fingerprint,
        "deleted": {"templates": templates, "data_keys": keys},
        "deleted_at": now.astimezone(dt.UTC).isoformat(timespec="seconds"),
    }
    receipt = sign_receipt(claims, keyring.receipt_key)
    audit.append(
        session,
        actor=actor,
        action="stay.checkout",
        subject=stay.id,
        details={
            "templates_deleted": templates,
            "data_keys_deleted": keys,
            "receipt_id": receipt_id,
        },
    )
    return receipt


def _deleted(session: Session, statement: Delete) -> int:
    """Run a DELETE and return how many rows it removed."""
    result = cast(CursorResult[Any], session.execute(statement))
    return int(result.rowcount)
