"""Face check-in lockout: five failed verifications for a stay within three minutes lock it.

A locked stay is refused with ``stay-locked`` (HTTP 423) at session opening and at
verification until staff unlock it with a written reason (audited). Failures
before the last unlock do not count again.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import audit, metrics
from service.errors import InvalidTransition, StayLocked
from service.kiosks import require_reason
from service.models import CheckinAttempt, Stay

MAX_FAILURES = 5
WINDOW_S = 180


def check_not_locked(stay: Stay) -> None:
    """Raise ``stay-locked`` when face check-in is locked for ``stay``."""
    if stay.locked_at is not None:
        raise StayLocked()


def recent_failures(session: Session, stay: Stay, *, now: dt.datetime) -> int:
    """Rejected verifications of ``stay`` within the window and since its last unlock."""
    since = now - dt.timedelta(seconds=WINDOW_S)
    if stay.unlocked_at is not None:  # failures before the last unlock do not count again
        since = max(since, stay.unlocked_at)
    return int(
        session.scalar(
            select(func.count())
            .select_from(CheckinAttempt)
            .where(
                CheckinAttempt.stay_id == stay.id,
                CheckinAttempt.decision == "rejected",
                CheckinAttempt.created_at > since,
            )
        )
        or 0
    )


def note_failure(session: Session, stay: Stay, *, actor: str, now: dt.datetime) -> audit.Entry | None:
    """After a rejected attempt (already added to ``session``): lock ``stay`` when it reaches the limit.

    Returns the ``stay.lock`` audit entry for the caller to append, or ``None`` when the stay is not locked now.
    The caller has read ``stay`` in this transaction (on PostgreSQL with its row locked), so the unlock
    time the count uses is the one committed before it.
    """
    if stay.locked_at is not None:
        return None
    failures = recent_failures(session, stay, now=now)
    if failures < MAX_FAILURES:
        return None
    stay.locked_at = now
    metrics.LOCKOUTS.inc()
    return audit.Entry(
        actor=actor, action="stay.lock", subject=stay.id, details={"failures": failures, "window_s": WINDOW_S}
    )


def unlock_stay(session: Session, stay: Stay, *, actor: str, reason: str, now: dt.datetime | None = None) -> Stay:
    """Clear the lock on ``stay`` (staff, with a written reason); raise ``invalid-transition`` if not locked."""
    reason = require_reason(reason)
    if stay.locked_at is None:
        raise InvalidTransition("the stay is not locked")
    now = now or dt.datetime.now(dt.UTC)
    locked_for_s = int((now - stay.locked_at).total_seconds())
    stay.locked_at = None
    stay.unlocked_at = now
    audit.append(
        session,
        audit.Entry(
            actor=actor, action="stay.unlock", subject=stay.id, details={"reason": reason, "locked_for_s": locked_for_s}
        ),
        at=now,
    )
    return stay
