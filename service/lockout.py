"""Face check-in lockout: five failed verifications for a stay within three minutes lock it.

A locked stay is refused with ``stay-locked`` (HTTP 423) at session opening and at
verification until staff unlock it with a written reason (audited). Failures
before the last unlock do not count again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from service import audit, metrics
from service.errors import InvalidTransition, StayLocked
from service.kiosks import require_reason
from service.models import CheckinAttempt, Stay, UTCDateTime

_UNLOCKED_AT = select(Stay.unlocked_at).where(Stay.id == bindparam("stay")).scalar_subquery()

MAX_FAILURES = 5
WINDOW_S = 180
FAILURES = (
    select(func.count())
    .select_from(CheckinAttempt)
    .where(
        CheckinAttempt.stay_id == bindparam("stay"),
        CheckinAttempt.decision == "rejected",
        CheckinAttempt.created_at > bindparam("since", type_=UTCDateTime()),
        or_(  # failures before the stay's last unlock do not count again
            _UNLOCKED_AT.is_(None),
            CheckinAttempt.created_at > _UNLOCKED_AT,
        ),
    )
)
"""Rejected verifications of stay ``:stay`` after ``:since`` and after its last unlock (read in SQL, so the
count always uses the unlock time committed before it, even on the hot path that has not read the stay yet)."""
LOCK = update(Stay).where(Stay.id == bindparam("stay")).values(locked_at=bindparam("now", type_=UTCDateTime()))


def check_not_locked(stay: Stay | StayState) -> None:
    """Raise ``stay-locked`` when face check-in is locked for ``stay``."""
    if stay.locked_at is not None:
        raise StayLocked()


def window_start(now: dt.datetime) -> dt.datetime:
    """The ``:since`` of :data:`FAILURES` at time ``now``."""
    return now - dt.timedelta(seconds=WINDOW_S)


def recent_failures(session: Session | Connection, stay: Stay | StayState, *, now: dt.datetime) -> int:
    """Rejected verifications of ``stay`` within the window and since its last unlock."""
    return int(session.scalar(FAILURES, {"stay": stay.id, "since": window_start(now)}) or 0)


@dataclass(frozen=True)
class StayState:
    """What lockout accounting reads of a stay (the verification hot path reads it with Core, not the ORM)."""

    id: str
    locked_at: dt.datetime | None
    unlocked_at: dt.datetime | None


def lock_at_limit(stay: StayState, failures: int, *, actor: str) -> audit.Pending | None:
    """Decide after a rejected attempt, ``failures`` counting it: at the limit the caller runs :data:`LOCK`.

    Returns the ``stay.lock`` audit entry for the caller to append, or ``None`` when the stay is not locked now.
    """
    if stay.locked_at is not None or failures < MAX_FAILURES:
        return None
    metrics.LOCKOUTS.inc()
    return audit.Pending(
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
        actor=actor,
        action="stay.unlock",
        subject=stay.id,
        details={"reason": reason, "locked_for_s": locked_for_s},
        at=now,
    )
    return stay
