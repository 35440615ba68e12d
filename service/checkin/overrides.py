"""Staff override: a person at the desk checked the guest's ID and checks them in by hand.

The override needs a written reason; it is recorded as an accepted attempt with
reason ``staff-override`` (no score: no face was compared), clears a lockout,
and is audited with the reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service import webhooks
from service.errors import StayNotActive
from service.stays.reservations import ACTIVE
from service.storage import audit
from service.storage.tables import CheckinAttempt, Stay

OVERRIDE_REASON = "staff-override"


@dataclass(frozen=True)
class Override:
    stay_id: str
    reference: str
    status: str
    was_locked: bool
    at: dt.datetime

    def as_json(self) -> dict[str, object]:
        return {
            "stay_id": self.stay_id,
            "reference": self.reference,
            "status": self.status,
            "was_locked": self.was_locked,
            "at": self.at.isoformat(),
        }


def override_stay(session: Session, stay: Stay, *, actor: str, reason: str, now: dt.datetime | None = None) -> Override:
    """Check ``stay`` in on staff's word (ID checked by a person); raise ``stay-not-active`` when closed."""
    reason = audit.require_reason(reason)
    if stay.status not in ACTIVE:
        raise StayNotActive()
    now = now or dt.datetime.now(dt.UTC)
    was_locked = stay.locked_at is not None
    if was_locked:
        stay.locked_at = None
        stay.unlocked_at = now
    stay.status = "checked_in"
    stay.checked_in_at = stay.checked_in_at or now
    session.add(
        CheckinAttempt(
            session_id="",
            stay_id=stay.id,
            kiosk_id="",
            decision="accepted",
            reason=OVERRIDE_REASON,
            model_id="",
            score=None,
            threshold=None,
            created_at=now,
        )
    )
    webhooks.emit(
        session,
        "stay.checked_in",
        {"booking_reference": stay.reference, "kiosk": None, "reason": OVERRIDE_REASON},
        now=now,
    )
    audit.append(
        session,
        audit.Entry(
            actor=actor, action="stay.override", subject=stay.id, details={"reason": reason, "was_locked": was_locked}
        ),
        at=now,
    )
    return Override(stay.id, stay.reference, stay.status, was_locked, now)
