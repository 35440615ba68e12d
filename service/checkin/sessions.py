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
from service.errors import ReplayedEnvelope, StayNotActive, UnknownSession
from service.stays.reservations import ACTIVE, stay_by_reference
from service.storage import audit
from service.storage.tables import CheckinSession, Kiosk


def open_session(session: Session, kiosk: Kiosk, *, reference: str, now: dt.datetime, ttl_s: int) -> CheckinSession:
    """Open a check-in session for the stay with booking ``reference``; returns it with its nonce."""
    stay = stay_by_reference(session, reference)
    if stay.status not in ACTIVE:
        raise StayNotActive()
    lockout.check_not_locked(stay.locked_at)
    policy = prop.load(session, prop.Liveness)
    checkin = CheckinSession(
        id=str(uuid.uuid4()),
        stay_id=stay.id,
        kiosk_id=kiosk.id,
        nonce=secrets.token_bytes(32),
        expires_at=now + dt.timedelta(seconds=ttl_s),
        challenge=liveness.choose_challenge(policy),
    )
    session.add(checkin)
    # A session under the try-out policy (passive liveness only) says so in the audit, for every check-in.
    details = None if policy.require_challenge else {"liveness_policy": policy.name}
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
