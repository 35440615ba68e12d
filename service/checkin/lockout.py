"""Face check-in lockout: five failed verifications for a stay within three minutes lock it.

A locked stay is refused with ``stay-locked`` (HTTP 423) at session opening and at
verification until staff unlock it with a written reason (audited). Failures
before the last unlock do not count again.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from service import metrics
from service.errors import InvalidTransition, StayLocked
from service.storage import audit
from service.storage.tables import Base, CheckinAttempt, Stay, UTCDateTime

MAX_FAILURES = 5
WINDOW_S = 180
_UNLOCKED_AT = select(Stay.unlocked_at).where(Stay.id == bindparam("stay")).scalar_subquery()
_FAILURES = (
    select(func.count())
    .select_from(CheckinAttempt)
    .where(
        CheckinAttempt.stay_id == bindparam("stay"),
        CheckinAttempt.decision == "rejected",
        CheckinAttempt.created_at > bindparam("since", type_=UTCDateTime()),
        or_(_UNLOCKED_AT.is_(None), CheckinAttempt.created_at > _UNLOCKED_AT),  # not again after an unlock
    )
)
_LOCK = (
    update(Base.metadata.tables[Stay.__tablename__])
    .where(Stay.id == bindparam("stay"))
    .values(locked_at=bindparam("now", type_=UTCDateTime()))
)


def check_not_locked(locked_at: dt.datetime | None) -> None:
    """Raise ``stay-locked`` when face check-in is locked for the stay (its ``locked_at`` is set)."""
    if locked_at is not None:
        raise StayLocked()


def recent_failures(session: Session, stay_id: str, *, now: dt.datetime) -> int:
    """Rejected verifications of the stay within the window and since its last unlock.

    The unlock time is read in the same statement, so the count uses the one committed before it.
    """
    since = now - dt.timedelta(seconds=WINDOW_S)
    return int(session.scalar(_FAILURES, {"stay": stay_id, "since": since}) or 0)


def note_failure(session: Session, stay_id: str, *, actor: str, now: dt.datetime) -> audit.Entry | None:
    """After a rejected attempt, already written, of a stay not locked: lock it when it reaches the limit.

    Returns the ``stay.lock`` audit entry for the caller to append, or ``None`` when the stay is not locked now.
    """
    failures = recent_failures(session, stay_id, now=now)
    if failures < MAX_FAILURES:
        return None
    session.execute(_LOCK, {"stay": stay_id, "now": now})
    metrics.lockout()
    return audit.Entry(
        actor=actor, action="stay.lock", subject=stay_id, details={"failures": failures, "window_s": WINDOW_S}
    )


def unlock_stay(session: Session, stay: Stay, *, actor: str, reason: str, now: dt.datetime | None = None) -> Stay:
    """Clear the lock on ``stay`` (staff, with a written reason); raise ``invalid-transition`` if not locked."""
    reason = audit.require_reason(reason)
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
