"""Kiosk lifecycle: list, suspend, resume, revoke; each refused at once with its own code, each audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.checkin.kiosks import list_kiosks, resume_kiosk, revoke_kiosk, suspend_kiosk
from service.errors import InvalidTransition, NotFound, ReasonRequired
from service.storage.audit import verify_chain
from service.storage.tables import AuditEntry, CheckinSession
from tests.helpers.service import Actions, assert_problem, near, random_template


def test_list_shows_status_and_key_id_only(actions: Actions) -> None:
    kiosk = actions.kiosk()
    with actions.svc.db.transaction() as session:
        listed = list_kiosks(session)
    assert [k.id for k in listed] == [str(kiosk.kiosk_id)]
    assert listed[0].status == "active"
    assert listed[0].key_id == kiosk.key.public_key().key_id.hex()
    assert set(listed[0].as_json()) == {
        "id",
        "name",
        "status",
        "key_id",
        "created_at",
        "last_seen_at",
        "state",
        "last_error",
        "last_error_at",
    }


def test_suspend_refuses_at_once_and_resume_restores(actions: Actions) -> None:
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)
    reference = random_template(5)
    envelope = actions.envelope(kiosk, opened, code, near(reference, 0.01), reference)
    with actions.svc.db.transaction() as session:
        assert suspend_kiosk(session, str(kiosk.kiosk_id), actor="staff:ana", reason="screen cracked").status == (
            "suspended"
        )
    assert_problem(actions.open_session(kiosk, code.reference), 403, "kiosk-suspended")
    assert_problem(actions.verify(envelope), 403, "kiosk-suspended")
    with actions.svc.db.transaction() as session:
        assert list_kiosks(session, status="suspended")[0].id == str(kiosk.kiosk_id)
        resume_kiosk(session, str(kiosk.kiosk_id), actor="staff:ana", reason="screen replaced")
    answer = actions.verify(envelope)
    assert answer.status_code == 200, answer.json
    assert answer.json["decision"] == "accepted"
    with actions.svc.db.transaction() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.subject == str(kiosk.kiosk_id)).order_by(AuditEntry.id)
        ).all()
        assert [e.action for e in entries][-2:] == ["kiosk.suspend", "kiosk.resume"]
        assert "screen cracked" in entries[-2].details
        assert verify_chain(session).ok


def test_revoke_is_final_and_closes_open_sessions(actions: Actions) -> None:
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)
    with actions.svc.db.transaction() as session:
        revoke_kiosk(session, str(kiosk.kiosk_id), actor="staff:ana", reason="stolen from lobby")
    with actions.svc.db.transaction() as session:
        assert session.get_one(CheckinSession, str(opened.session_id)).status == "revoked"
        with pytest.raises(InvalidTransition):
            resume_kiosk(session, str(kiosk.kiosk_id), actor="staff:ana", reason="found it")
    reference = random_template(6)
    envelope = actions.envelope(kiosk, opened, code, reference, reference)
    assert_problem(actions.verify(envelope), 403, "kiosk-revoked")


@pytest.mark.parametrize("reason", ["", "   ", "x" * 201])
def test_reason_is_required(actions: Actions, reason: str) -> None:
    kiosk = actions.kiosk()
    with pytest.raises(ReasonRequired), actions.svc.db.transaction() as session:
        suspend_kiosk(session, str(kiosk.kiosk_id), actor="staff:ana", reason=reason)


def test_unknown_kiosk(actions: Actions) -> None:
    with pytest.raises(NotFound), actions.svc.db.transaction() as session:
        suspend_kiosk(session, "00000000-0000-0000-0000-000000000000", actor="staff:ana", reason="why")
