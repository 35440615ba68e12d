"""Reservations: creation (with the booking code), lookup, changes, listings and the CSV import of arrivals.

A stay is created in one of two ways. By default the service makes the booking
code and answers it once; it then knows the master secret for that moment, and
so could compute the guest's transform key. In the PMS-side way the PMS makes
the booking code itself (``lethe booking new``) and sends only the reference and
the stay secret's fingerprint: the service never sees a secret at all.

The JSON shapes the PMS API sends and answers are here too; forgetting a stay
(checkout, cancellation) is in ``service/stays/forget.py``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from protocol import BookingCode, new_master_secret
from protocol.vault import new_key_seed, wrap_key_seed
from service.errors import AlreadyExists, BadRequest, StayNotActive, UnknownBooking
from service.keyring import Keyring
from service.storage import audit
from service.storage.tables import Stay, StayKey

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the desk
ACTIVE = ("reserved", "checked_in")
MAX_IMPORT_ROWS = 5000
CSV_COLUMNS = ("guest_name", "arrival", "departure")
Listing = Literal["arrivals", "departures", "in-house"]


@dataclass(frozen=True)
class NewReservation:
    """A created stay; ``booking_code`` is ``None`` when the PMS made the code (only its fingerprint came)."""

    stay: Stay
    booking_code: BookingCode | None


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
    stay_secret_fingerprint: str | None = None,
) -> NewReservation:
    """Create a stay with a fresh booking code (or the PMS's fingerprint) and a wrapped template key seed.

    Without ``stay_secret_fingerprint`` the returned booking code holds a fresh
    master secret; it is shown once (for the booking QR) and never stored: the
    stay keeps only the stay secret's fingerprint. With it (the PMS made the
    code; ``reference`` is then required) no secret exists here at all.
    """
    if stay_secret_fingerprint is not None and reference is None:
        raise BadRequest("a reservation with stay_secret_fingerprint needs the reference of its booking code")
    reference = reference or new_reference()
    if session.scalars(select(Stay.id).where(Stay.reference == reference)).first() is not None:
        raise AlreadyExists(f"a reservation with reference {reference} exists")
    code = None if stay_secret_fingerprint is not None else BookingCode(reference, new_master_secret())
    stay = Stay(
        id=str(uuid.uuid4()),
        reference=reference,
        guest_name=guest_name,
        arrival=arrival,
        departure=departure,
        secret_fingerprint=code.fingerprint if code is not None else stay_secret_fingerprint,
    )
    session.add(stay)
    session.flush()
    add_stay_key(session, keyring, stay)
    audit.append(session, audit.Entry(actor=actor, action="stay.create", subject=stay.id))
    return NewReservation(stay, code)


def add_stay_key(session: Session, keyring: Keyring, stay: Stay) -> None:
    """Give ``stay`` a fresh template key seed, wrapped under the current key-encryption key."""
    kek_id = keyring.current_kek_id
    session.add(
        StayKey(
            stay_id=stay.id,
            kek_id=kek_id,
            wrapped_seed=wrap_key_seed(keyring.kek(kek_id), new_key_seed(), stay_id=stay.id),
        )
    )


def stay_by_reference(session: Session, reference: str) -> Stay:
    stay = session.scalars(select(Stay).where(Stay.reference == reference.upper())).first()
    if stay is None:
        raise UnknownBooking()
    return stay


class ReservationBody(BaseModel):
    """One reservation as the PMS sends it in a JSON body."""

    model_config = ConfigDict(extra="forbid")
    guest_name: str = Field(min_length=1, max_length=200)
    arrival: dt.date
    departure: dt.date
    reference: str | None = Field(default=None, pattern=r"^[A-Z0-9]{6,16}$")
    stay_secret_fingerprint: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="PMS-side booking codes: the stay secret's fingerprint (the PMS keeps the code)",
    )

    @model_validator(mode="after")
    def _dates(self) -> ReservationBody:
        if self.departure < self.arrival:
            raise ValueError("departure is before arrival")
        return self


class ReservationRow(ReservationBody):
    """One reservation from a CSV import row: the same fields, surrounding whitespace stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def stay_json(stay: Stay) -> dict[str, object]:
    return {
        "stay_id": stay.id,
        "reference": stay.reference,
        "guest_name": stay.guest_name,
        "arrival": stay.arrival.isoformat(),
        "departure": stay.departure.isoformat(),
        "status": stay.status,
    }


def created_json(created: NewReservation) -> dict[str, object]:
    """A new stay's fields plus its booking code; ``qr_payload`` is the string to put in the booking QR.

    A stay whose code the PMS made has neither: the service never had it.
    """
    if created.booking_code is None:
        return stay_json(created.stay)
    code = str(created.booking_code)
    return stay_json(created.stay) | {"booking_code": code, "qr_payload": code}


def update_reservation(
    session: Session,
    stay: Stay,
    *,
    actor: str,
    guest_name: str | None = None,
    arrival: dt.date | None = None,
    departure: dt.date | None = None,
) -> Stay:
    """Change a reservation's name or dates (not after checkout or cancellation); audited (fields, not values)."""
    if stay.status not in ACTIVE:
        raise StayNotActive()
    new_arrival = arrival or stay.arrival
    new_departure = departure or stay.departure
    if new_departure < new_arrival:
        raise BadRequest("departure is before arrival")
    if stay.status == "checked_in" and arrival is not None and arrival != stay.arrival:
        raise BadRequest("the guest has checked in: the arrival date cannot change")
    changed = []
    if guest_name is not None and guest_name != stay.guest_name:
        stay.guest_name = guest_name
        changed.append("guest_name")
    if new_arrival != stay.arrival:
        stay.arrival = new_arrival
        changed.append("arrival")
    if new_departure != stay.departure:
        stay.departure = new_departure
        changed.append("departure")
    if changed:
        audit.append(
            session,
            audit.Entry(actor=actor, action="stay.update", subject=stay.id, details={"fields": ",".join(changed)}),
        )
    return stay


def list_reservations(session: Session, day: dt.date, kind: Listing = "arrivals") -> list[Stay]:
    """Stays arriving on, departing on, or in house on ``day``, by reference."""
    query = select(Stay).order_by(Stay.reference)
    if kind == "arrivals":
        query = query.where(Stay.arrival == day)
    elif kind == "departures":
        query = query.where(Stay.departure == day)
    else:
        query = query.where(Stay.arrival <= day, Stay.departure >= day, Stay.status.in_(ACTIVE))
    return list(session.scalars(query))


@dataclass(frozen=True)
class ImportResult:
    created: list[NewReservation]


def parse_csv(text: str) -> list[ReservationRow]:
    """Parse a CSV of arrivals (header ``guest_name,arrival,departure[,reference]``); every problem is named."""
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise BadRequest(f"the CSV header lacks {', '.join(missing)}")
    unknown = [c for c in header if c not in (*CSV_COLUMNS, "reference")]
    if unknown:
        raise BadRequest(f"unknown CSV column(s): {', '.join(unknown)}")
    rows: list[ReservationRow] = []
    problems: list[str] = []
    for number, record in enumerate(reader, start=2):
        if len(rows) + len(problems) >= MAX_IMPORT_ROWS:
            raise BadRequest(f"at most {MAX_IMPORT_ROWS} rows per import")
        data: dict[str, Any] = {k: v for k, v in record.items() if k is not None and v not in (None, "")}
        if None in record:
            problems.append(f"line {number}: too many fields")
            continue
        try:
            rows.append(ReservationRow.model_validate(data))
        except ValidationError as exc:
            problems.append(f"line {number}: " + "; ".join(_row_problem(e, data) for e in exc.errors()))
    if problems:
        raise BadRequest(" | ".join(problems[:20]))
    references = [r.reference for r in rows if r.reference]
    if len(references) != len(set(references)):
        raise BadRequest("a reference appears twice in the CSV")
    if not rows:
        raise BadRequest("the CSV has no rows")
    return rows


DATE_FORMAT_HINT = "write dates as YYYY-MM-DD, e.g. 2026-11-23"


def _row_problem(error: Any, data: dict[str, Any]) -> str:
    """One validation error of a CSV row, in words a person fixing the file can follow."""
    field = ".".join(map(str, error["loc"]))
    given = data.get(field)
    if error["type"] == "missing":
        return f"{field} is missing"
    if field in ("arrival", "departure"):
        return f"{field} {given!r} is not a date; {DATE_FORMAT_HINT}"
    if field == "reference":
        return f"reference {given!r} must be 6 to 16 capital letters and digits"
    if field == "guest_name":
        return "guest_name must be 1 to 200 characters"
    if not field:  # the row as a whole: the dates' order
        return f"departure {data.get('departure')} is before arrival {data.get('arrival')}"
    return f"{field}: {error['msg']}"


def import_csv(session: Session, keyring: Keyring, text: str, *, actor: str) -> ImportResult:
    """Create every reservation of the CSV in the caller's transaction, or none (any problem raises)."""
    rows = parse_csv(text)
    created = [
        create_reservation(
            session,
            keyring,
            guest_name=row.guest_name,
            arrival=row.arrival,
            departure=row.departure,
            reference=row.reference,
            actor=actor,
        )
        for row in rows
    ]
    audit.append(session, audit.Entry(actor=actor, action="stay.import", details={"rows": len(created)}))
    return ImportResult(created)
