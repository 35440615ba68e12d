"""Forgetting a stay: the one place a stay's face data is deleted; checkout with its receipt; cancellation; renewal.

Checkout, cancellation, data-subject erasure (``service/stays/datasubject.py``)
and the retention purge (``service/stays/retention.py``) all call :func:`forget`.
It deletes the stays' stored templates and their wrapped key seeds in the
caller's transaction: without the seed the data key cannot be derived again
(crypto-shredding), so a backup of the templates is useless too.
Each path may also delete the stays' check-in sessions and attempts, and says
so; :func:`forget` returns what it deleted, for the audit entry and the receipt.
Renewal (:func:`reissue`) forgets the stay's face data too, then gives it a new
booking code: templates made under the new code are unlinkable to the old ones.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, Delete, delete, select
from sqlalchemy.orm import Session

from protocol import BookingCode, ChainHead, DeletionClaims, new_master_secret, sign_receipt
from service import webhooks
from service.errors import StayNotActive
from service.keyring import Keyring
from service.stays.reservations import ACTIVE, add_stay_key
from service.storage import audit, checkpoints
from service.storage.tables import (
    AuditCheckpoint,
    AuditEntry,
    CheckinAttempt,
    CheckinSession,
    Stay,
    StayKey,
    StoredTemplate,
)

Sessions = Literal["none", "open", "all"]
CHUNK = 500  # stay ids per DELETE (SQLite allows 32,766 bound values; PostgreSQL plans small IN lists well)


@dataclass(frozen=True)
class Forgotten:
    """Rows deleted for one or more stays."""

    templates: int = 0
    data_keys: int = 0
    sessions: int = 0
    attempts: int = 0

    def __add__(self, other: Forgotten) -> Forgotten:
        return Forgotten(
            self.templates + other.templates,
            self.data_keys + other.data_keys,
            self.sessions + other.sessions,
            self.attempts + other.attempts,
        )


def forget(
    session: Session, stay_ids: Sequence[str], *, sessions: Sessions = "none", attempts: bool = False
) -> Forgotten:
    """Delete the templates and data keys of ``stay_ids`` in the caller's transaction; return what was deleted.

    ``sessions`` also deletes the stays' check-in sessions: ``"open"`` ones (a
    purge: the kiosk's nonce is of no use any more) or ``"all"`` (cancellation,
    erasure). ``attempts`` also deletes the check-in attempts (erasure). The
    stays' own rows are the caller's to change or delete.
    """
    total = Forgotten()
    for start in range(0, len(stay_ids), CHUNK):
        chunk = list(stay_ids[start : start + CHUNK])
        checkin_sessions = delete(CheckinSession).where(CheckinSession.stay_id.in_(chunk))
        if sessions == "open":
            checkin_sessions = checkin_sessions.where(CheckinSession.status == "open")
        total += Forgotten(
            templates=_deleted(session, delete(StoredTemplate).where(StoredTemplate.stay_id.in_(chunk))),
            data_keys=_deleted(session, delete(StayKey).where(StayKey.stay_id.in_(chunk))),
            attempts=_deleted(session, delete(CheckinAttempt).where(CheckinAttempt.stay_id.in_(chunk)))
            if attempts
            else 0,
            sessions=_deleted(session, checkin_sessions) if sessions != "none" else 0,
        )
    return total


def receipt(
    keyring: Keyring, stay: Stay, forgotten: Forgotten, *, now: dt.datetime, receipt_id: str, chain: ChainHead
) -> dict[str, Any]:
    """The signed deletion receipt for ``stay`` (``protocol.receipt``): what was deleted and the audit chain's head."""
    claims = DeletionClaims(
        receipt_id=receipt_id,
        stay_ref_digest=stay.secret_fingerprint,
        templates=forgotten.templates,
        data_keys=forgotten.data_keys,
        deleted_at=now,
        audit=chain,
    )
    return sign_receipt(claims, keyring.receipt_key)


def _deleted(session: Session, statement: Delete) -> int:
    """Run a DELETE (as written: no objects in the session are looked at) and return how many rows it removed."""
    result = cast(CursorResult[Any], session.execute(statement.execution_options(synchronize_session=False)))
    return int(result.rowcount)


def checkout(session: Session, keyring: Keyring, stay: Stay, *, actor: str, now: dt.datetime) -> dict[str, Any]:
    """Check a stay out: forget its face data in this transaction, return the signed deletion receipt.

    The receipt carries the head of the audit chain with the checkout recorded,
    signed as a checkpoint too (``service/storage/checkpoints.py``).
    """
    if stay.status not in ACTIVE:
        raise StayNotActive()
    forgotten = forget(session, [stay.id])
    stay.status = "checked_out"
    stay.checked_out_at = now
    receipt_id = str(uuid.uuid4())
    kiosk = webhooks.kiosk_by_id(session, actor.removeprefix("kiosk:")) if actor.startswith("kiosk:") else None
    webhooks.emit(
        session,
        "stay.checked_out",
        {"booking_reference": stay.reference, "kiosk": kiosk, "receipt_id": receipt_id},
        now=now,
    )
    audit.append(
        session,
        audit.Entry(
            actor=actor,
            action="stay.checkout",
            subject=stay.id,
            details={
                "templates_deleted": forgotten.templates,
                "data_keys_deleted": forgotten.data_keys,
                "receipt_id": receipt_id,
                "receipt_key_id": keyring.receipt_key.public_key().key_id.hex(),
            },
        ),
    )
    chain, _checkpoint = checkpoints.record(session, keyring.receipt_key, at=now)
    return receipt(keyring, stay, forgotten, now=now, receipt_id=receipt_id, chain=chain)


def checkout_receipt(session: Session, keyring: Keyring, stay: Stay) -> dict[str, Any] | None:
    """The signed receipt of ``stay``'s checkout again (for the panel's link back), or ``None`` if it has none.

    The claims are rebuilt from the checkout's audit entry, the checkpoint signed
    with it (the chain's head in the receipt) and the stay's row;
    Ed25519 signatures are deterministic, so signing them again with the key
    that signed them gives the very document the guest was given. A receipt
    whose key is no longer in the key folder is signed by the current key.
    """
    if stay.status != "checked_out" or stay.checked_out_at is None:
        return None
    entry = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.subject == stay.id, AuditEntry.action == "stay.checkout")
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).first()
    if entry is None:
        return None
    details = json.loads(entry.details)
    checkpoint = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.last_id == entry.id).limit(1)).first()
    claims = DeletionClaims(
        receipt_id=details["receipt_id"],
        stay_ref_digest=stay.secret_fingerprint,
        templates=details["templates_deleted"],
        data_keys=details["data_keys_deleted"],
        deleted_at=stay.checked_out_at,
        audit=None if checkpoint is None else ChainHead(checkpoint.entries, checkpoint.head),
    )
    keys = {k.public_key().key_id.hex(): k for k in keyring.receipt_keys}
    return sign_receipt(claims, keys.get(details.get("receipt_key_id"), keyring.receipt_key))


def cancel_reservation(session: Session, stay: Stay, *, actor: str, now: dt.datetime) -> dict[str, int]:
    """Cancel a reservation not yet checked in: its data key and sessions are deleted at once."""
    if stay.status != "reserved":
        raise StayNotActive("only a reservation that is not checked in can be cancelled; check it out instead")
    forgotten = forget(session, [stay.id], sessions="all")
    counts = {"templates": forgotten.templates, "data_keys": forgotten.data_keys, "sessions": forgotten.sessions}
    stay.status = "cancelled"
    stay.checked_out_at = now
    audit.append(
        session,
        audit.Entry(
            actor=actor, action="stay.cancel", subject=stay.id, details={f"{k}_deleted": v for k, v in counts.items()}
        ),
        at=now,
    )
    return counts


@dataclass(frozen=True)
class Reissued:
    """A renewed stay: its new booking code (``None`` when the PMS made it) and what was forgotten."""

    booking_code: BookingCode | None
    forgotten: Forgotten


def reissue(
    session: Session,
    keyring: Keyring,
    stay: Stay,
    *,
    actor: str,
    now: dt.datetime,
    stay_secret_fingerprint: str | None = None,
) -> Reissued:
    """Renew an active stay's booking code: forget its templates, data key and open sessions, start afresh.

    The old booking code stops working at once (its fingerprint is replaced);
    the stay gets a new key seed, and templates made under the new code are
    rotated by an unrelated matrix, so they cannot be linked to the old ones.
    A checked-in guest checks in again with the ID document under the new code.
    With ``stay_secret_fingerprint`` the PMS made the new code and the service
    sees no secret; otherwise the new code is returned, to be shown once.
    """
    if stay.status not in ACTIVE:
        raise StayNotActive()
    forgotten = forget(session, [stay.id], sessions="open")
    code = None if stay_secret_fingerprint is not None else BookingCode(stay.reference, new_master_secret())
    stay.secret_fingerprint = code.fingerprint if code is not None else str(stay_secret_fingerprint)
    add_stay_key(session, keyring, stay)
    audit.append(
        session,
        audit.Entry(
            actor=actor,
            action="stay.reissue",
            subject=stay.id,
            details={
                "templates_deleted": forgotten.templates,
                "data_keys_deleted": forgotten.data_keys,
                "sessions_deleted": forgotten.sessions,
            },
        ),
        at=now,
    )
    return Reissued(code, forgotten)
