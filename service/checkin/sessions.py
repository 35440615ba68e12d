"""Check-in sessions: opened for a stay at a kiosk (with a nonce and a liveness challenge), or ended unused.

The guest's consent is recorded on the session (``service/checkin/consent.py``)
and the sealed envelope is verified against it (``service/checkin/verification.py``).
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import property as prop
from service.checkin import liveness, lockout
from service.errors import ReplayedEnvelope, StayNotActive, StayNotCheckedIn, UnknownSession
from service.stays.reservations import ACTIVE, stay_by_reference
from service.storage import audit
from service.storage.tables import CheckinSession, Kiosk

PURPOSES = ("check-in", "reverify")


def open_session(
    session: Session, kiosk: Kiosk, *, reference: str, now: dt.datetime, ttl_s: int, purpose: str = "check-in"
) -> CheckinSession:
    """Open a session for the stay with booking ``reference``; returns it with its nonce.

    ``purpose`` is ``check-in`` (the guest brings an ID) or ``reverify`` (a guest
    already checked in, compared with the stay's stored template): a
    re-verification of a stay not checked in is refused here, before the guest
    is asked for consent or a face (``stay-not-checked-in``).
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}")
    stay = stay_by_reference(session, reference)
    if stay.status not in ACTIVE:
        raise StayNotActive()
    lockout.check_not_locked(stay.locked_at)
    if purpose == "reverify" and stay.status != "checked_in":
        raise StayNotCheckedIn()
    policy = prop.load(session, prop.Liveness)
    checkin = CheckinSession(
        id=str(uuid.uuid4()),
        stay_id=stay.id,
        kiosk_id=kiosk.id,
        nonce=secrets.token_bytes(32),
        expires_at=now + dt.timedelta(seconds=ttl_s),
        challenge=liveness.choose_challenge(policy),
        purpose=purpose,
    )
    session.add(checkin)
    # A session under the try-out policy (passive liveness only) says so in the audit, for every check-in.
    details: dict[str, str] | None = None if policy.require_challenge else {"liveness_policy": policy.name}
    if purpose != "check-in":
        details = (details or {}) | {"purpose": purpose}
    audit.append(
        session, audit.Entry(actor=f"kiosk:{kiosk.id}", action="checkin.session.open", subject=stay.id, details=details)
    )
    return checkin


def end_session(session: Session, kiosk: Kiosk, session_id: str, *, now: dt.datetime) -> CheckinSession:
    """Close an open session of ``kiosk`` unused (``ended``); raise ``unknown-session`` or ``replayed-envelope``."""
    checkin = session.scalars(select(CheckinSession).where(CheckinSession.id == session_id).with_for_update()).first()
    if checkin is None or checkin.kiosk_id != kiosk.id:
        raise UnknownSession()
    if checkin.status != "open":
        raise ReplayedEnvelope("the session is already used or closed")
    checkin.status = "ended"
    checkin.used_at = now
    return checkin
