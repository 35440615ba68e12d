"""The guest's answer to the property's consent notice, recorded per check-in session.

The kiosk shows the notice the service sent with the session (``POST
/api/v1/sessions``) and reports the answer (``POST /api/v1/sessions/<id>/consent``):

* ``accepted`` with the notice version: kept on the session (answer, version,
  time). Only the property's current notice can be accepted; if it changed
  since the session opened the answer is ``consent-version-mismatch`` and the
  kiosk opens a new session (which carries the new text).
* ``refused`` (the guest chose the front desk, or did not answer in time): the
  session is closed with status ``consent-refused``, and a later envelope for it
  gets ``consent-refused``. A guest who accepted and then chooses the front desk
  before the envelope arrives withdraws consent the same way (the audit log keeps
  both answers; the session keeps the last).

:func:`service.checkin.verify` requires an ``accepted`` answer on the session
(``consent-required`` otherwise): no template is compared without it. Each
answer is audited (decision, version, session id: nothing biometric). The
answer is part of the session row, so a data-subject erasure or export covers it.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import property as prop
from service.errors import (
    ConsentAlreadyRecorded,
    ConsentRefused,
    ConsentVersionMismatch,
    ReplayedEnvelope,
    SessionExpired,
    UnknownSession,
)
from service.storage import audit
from service.storage.tables import CheckinSession, Kiosk

Decision = Literal["accepted", "refused"]
REFUSED_STATUS = "consent-refused"


def record(
    session: Session, kiosk: Kiosk, session_id: str, *, decision: Decision, version: int, now: dt.datetime
) -> CheckinSession:
    """Record the guest's ``decision`` on notice ``version`` for an open session of ``kiosk``."""
    checkin = session.scalars(select(CheckinSession).where(CheckinSession.id == session_id).with_for_update()).first()
    if checkin is None or checkin.kiosk_id != kiosk.id:
        raise UnknownSession()
    if checkin.status == REFUSED_STATUS:
        raise ConsentRefused()
    if checkin.status != "open":
        raise ReplayedEnvelope("the session is already used or closed")
    if decision == "accepted":
        if checkin.consent is not None:
            raise ConsentAlreadyRecorded()
        if checkin.expires_at <= now:
            raise SessionExpired()
        current = prop.load(session, prop.ConsentNotice).version
        if version != current:
            raise ConsentVersionMismatch(f"the current notice is version {current}")
    else:
        checkin.status = REFUSED_STATUS
        checkin.used_at = now
    checkin.consent = decision
    checkin.consent_version = version
    checkin.consent_at = now
    audit.append(
        session,
        audit.Entry(
            actor=f"kiosk:{kiosk.id}",
            action=f"checkin.consent.{decision}",
            subject=checkin.stay_id,
            details={"session": checkin.id, "version": version},
        ),
        at=now,
    )
    return checkin
