"""Data-subject requests: export everything held about a stay, or erase it. Both audited.

The export is JSON a guest can read: the reservation, every check-in session (with
the guest's consent answer) and attempt (decision, reason, score, threshold), which templates and data key are
held (ids, model and times only: never a template, in clear or encrypted) and the
audit entries about the stay. Erasure deletes the stay and everything that
refers to it in one transaction; the audit log keeps only the stay's random id
and the counts of what was deleted.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import webhooks
from service.stays.forget import Forgotten, forget
from service.storage import audit
from service.storage.tables import AuditEntry, CheckinAttempt, CheckinSession, Stay, StayKey, StoredTemplate

EXPORT_FORMAT = "lethe.data-subject-export"


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def export_stay(
    session: Session, stay: Stay, *, actor: str, reason: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Everything held about ``stay`` as a JSON-ready dict (no template bytes); the export is audited."""
    reason = audit.require_reason(reason)
    now = now or dt.datetime.now(dt.UTC)
    sessions = session.scalars(
        select(CheckinSession).where(CheckinSession.stay_id == stay.id).order_by(CheckinSession.created_at)
    ).all()
    attempts = session.scalars(
        select(CheckinAttempt).where(CheckinAttempt.stay_id == stay.id).order_by(CheckinAttempt.id)
    ).all()
    templates = session.scalars(
        select(StoredTemplate).where(StoredTemplate.stay_id == stay.id).order_by(StoredTemplate.created_at)
    ).all()
    key = session.get(StayKey, stay.id)
    entries = session.scalars(select(AuditEntry).where(AuditEntry.subject == stay.id).order_by(AuditEntry.id)).all()
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "version": 1,
        "exported_at": now.isoformat(),
        "stay": {
            "stay_id": stay.id,
            "reference": stay.reference,
            "guest_name": stay.guest_name,
            "arrival": _iso(stay.arrival),
            "departure": _iso(stay.departure),
            "status": stay.status,
            "created_at": _iso(stay.created_at),
            "checked_in_at": _iso(stay.checked_in_at),
            "checked_out_at": _iso(stay.checked_out_at),
            "locked_at": _iso(stay.locked_at),
        },
        "checkin_sessions": [
            {
                "session_id": s.id,
                "kiosk_id": s.kiosk_id,
                "status": s.status,
                "created_at": _iso(s.created_at),
                "expires_at": _iso(s.expires_at),
                "used_at": _iso(s.used_at),
                "consent": None
                if s.consent is None
                else {"decision": s.consent, "version": s.consent_version, "at": _iso(s.consent_at)},
            }
            for s in sessions
        ],
        "checkin_attempts": [
            {
                "session_id": a.session_id or None,
                "kiosk_id": a.kiosk_id or None,
                "kind": a.kind,
                "decision": a.decision,
                "reason": a.reason,
                "model": a.model_id or None,
                "score": a.score,
                "threshold": a.threshold,
                "at": _iso(a.created_at),
            }
            for a in attempts
        ],
        "templates_held": [
            {"template_id": t.id, "model": t.model_id, "stored_at": _iso(t.created_at), "encrypted": True}
            for t in templates
        ],
        "data_key_held": None if key is None else {"kek_id": key.kek_id, "created_at": _iso(key.created_at)},
        "audit": [
            {"id": e.id, "at": _iso(e.at), "actor": e.actor, "action": e.action, "details": json.loads(e.details)}
            for e in entries
        ],
    }
    audit.append(
        session, audit.Entry(actor=actor, action="stay.export", subject=stay.id, details={"reason": reason}), at=now
    )
    return document


@dataclass(frozen=True)
class Erasure:
    stay_id: str
    deleted: Forgotten
    at: dt.datetime

    def as_json(self) -> dict[str, object]:
        return {
            "stay_id": self.stay_id,
            "deleted": {
                "templates": self.deleted.templates,
                "data_keys": self.deleted.data_keys,
                "checkin_sessions": self.deleted.sessions,
                "checkin_attempts": self.deleted.attempts,
                "stay": 1,
            },
            "erased_at": self.at.isoformat(),
        }


def erase_stay(session: Session, stay: Stay, *, actor: str, reason: str, now: dt.datetime | None = None) -> Erasure:
    """Delete ``stay`` and every row about it (templates, data key, sessions, attempts) in this transaction."""
    reason = audit.require_reason(reason)
    now = now or dt.datetime.now(dt.UTC)
    stay_id, reference = stay.id, stay.reference
    forgotten = forget(session, [stay_id], sessions="all", attempts=True)
    session.delete(stay)
    session.flush()
    webhooks.emit(session, "stay.erased", {"booking_reference": reference}, now=now)
    audit.append(
        session,
        audit.Entry(
            actor=actor,
            action="stay.erase",
            subject=stay_id,
            details={
                "reason": reason,
                "templates_deleted": forgotten.templates,
                "data_keys_deleted": forgotten.data_keys,
                "sessions_deleted": forgotten.sessions,
                "attempts_deleted": forgotten.attempts,
            },
        ),
        at=now,
    )
    return Erasure(stay_id, forgotten, now)
