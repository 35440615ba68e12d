"""Reservations and stays: creation (with the stay secret), lookup, and checkout with a deletion receipt."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from protocol import BookingCode, new_stay_secret
from protocol.vault import new_key_seed, wrap_key_seed
from service import audit
from service.errors import AlreadyExists, StayNotActive, UnknownBooking
from service.forget import forget, receipt
from service.keyring import Keyring
from service.models import Stay, StayKey

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
    audit.append(session, audit.Entry(actor=actor, action="stay.create", subject=stay.id))
    return NewReservation(stay, code)


def stay_by_reference(session: Session, reference: str) -> Stay:
    stay = session.scalars(select(Stay).where(Stay.reference == reference.upper())).first()
    if stay is None:
        raise UnknownBooking()
    return stay


def checkout(session: Session, keyring: Keyring, stay: Stay, *, actor: str, now: dt.datetime) -> dict[str, Any]:
    """Check a stay out: forget its face data in this transaction, return the signed deletion receipt."""
    if stay.status not in ACTIVE:
        raise StayNotActive()
    forgotten = forget(session, [stay.id])
    stay.status = "checked_out"
    stay.checked_out_at = now
    signed = receipt(keyring, stay, forgotten, now=now)
    audit.append(
        session,
        audit.Entry(
            actor=actor,
            action="stay.checkout",
            subject=stay.id,
            details={
                "templates_deleted": forgotten.templates,
                "data_keys_deleted": forgotten.data_keys,
                "receipt_id": signed["claims"]["receipt_id"],
            },
        ),
    )
    return signed
