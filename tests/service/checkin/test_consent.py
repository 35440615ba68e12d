"""The per-session consent record: accepted (required before verify) or refused (closes the session)."""

from __future__ import annotations

import json

from sqlalchemy import select

from protocol import sign_request
from service import property as prop
from service.stays.datasubject import erase_stay, export_stay
from service.storage.tables import AuditEntry, CheckinAttempt, CheckinSession, Stay
from tests.helpers.service import Actions, assert_problem, near, random_template


def _current_version(actions: Actions) -> int:
    with actions.svc.db.transaction() as session:
        return prop.load(session, prop.ConsentNotice).version


def test_accepted_consent_is_recorded_audited_and_lets_verify_run(actions: Actions) -> None:
    reference = random_template(11)
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference, consent=False)
    answer = actions.consent(kiosk, opened.session_id, "accepted", _current_version(actions))
    assert answer.status_code == 200, answer.json
    assert answer.json == {
        "session_id": str(opened.session_id),
        "status": "open",
        "consent": "accepted",
        "version": _current_version(actions),
    }
    verified = actions.verify(actions.envelope(kiosk, opened, code, near(reference, 0.01), reference))
    assert verified.status_code == 200, verified.json
    assert verified.json["decision"] == "accepted"
    with actions.svc.db.transaction() as session:
        row = session.get_one(CheckinSession, str(opened.session_id))
        assert (row.consent, row.consent_version, row.status) == ("accepted", 1, "used")
        assert row.consent_at is not None
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "checkin.consent.accepted")).one()
        assert entry.actor == f"kiosk:{kiosk.kiosk_id}"
        assert json.loads(entry.details) == {"session": str(opened.session_id), "version": 1}


def test_verify_without_a_consent_record_is_refused_and_changes_nothing(actions: Actions) -> None:
    reference = random_template(12)
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference, consent=False)
    answer = actions.verify(actions.envelope(kiosk, opened, code, reference, reference))
    assert_problem(answer, 409, "consent-required")
    with actions.svc.db.transaction() as session:
        assert session.get_one(CheckinSession, str(opened.session_id)).status == "open"
        assert session.scalars(select(CheckinAttempt)).all() == []
    # Consent recorded afterwards: the same session can now be used.
    assert actions.consent(kiosk, opened.session_id, "accepted", 1).status_code == 200
    assert actions.verify(actions.envelope(kiosk, opened, code, reference, reference)).json["decision"] == "accepted"


def test_refusal_closes_the_session_and_verify_gets_consent_refused(actions: Actions) -> None:
    reference = random_template(13)
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference, consent=False)
    answer = actions.consent(kiosk, opened.session_id, "refused", 1)
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "consent-refused"
    assert_problem(actions.verify(actions.envelope(kiosk, opened, code, reference, reference)), 409, "consent-refused")
    # The answer is final: neither a second refusal nor an acceptance changes it.
    assert_problem(actions.consent(kiosk, opened.session_id, "accepted", 1), 409, "consent-refused")
    with actions.svc.db.transaction() as session:
        row = session.get_one(CheckinSession, str(opened.session_id))
        assert (row.status, row.consent, row.consent_version) == ("consent-refused", "refused", 1)
        assert row.used_at is not None
        assert session.scalars(select(CheckinAttempt)).all() == []
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "checkin.consent.refused")).one()
        assert entry.subject == session.scalars(select(Stay.id).where(Stay.reference == code.reference)).one()
    metrics = actions.client.get("/metrics").get_data(as_text=True)
    assert 'reason="consent-refused"' in metrics


def test_consent_answers_are_checked(actions: Actions) -> None:
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference, consent=False)
    # Only the current notice version can be accepted.
    assert_problem(actions.consent(kiosk, opened.session_id, "accepted", 2), 409, "consent-version-mismatch")
    assert_problem(actions.consent(kiosk, opened.session_id, "maybe", 1), 400, "bad-request")
    assert_problem(actions.consent(kiosk, opened.session_id, "accepted", 0), 400, "bad-request")
    # Another kiosk cannot answer for this session, and unknown sessions are unknown.
    assert_problem(actions.consent(actions.kiosk(), opened.session_id, "refused", 1), 404, "unknown-session")
    assert_problem(actions.consent(kiosk, "nope", "refused", 1), 404, "unknown-session")
    assert actions.consent(kiosk, opened.session_id, "accepted", 1).status_code == 200
    assert_problem(actions.consent(kiosk, opened.session_id, "accepted", 1), 409, "consent-already-recorded")


def test_a_guest_can_withdraw_consent_before_the_envelope(actions: Actions) -> None:
    reference = random_template(14)
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)  # accepted
    answer = actions.consent(kiosk, opened.session_id, "refused", 1)
    assert answer.status_code == 200, answer.json
    assert (answer.json["status"], answer.json["consent"]) == ("consent-refused", "refused")
    assert_problem(actions.verify(actions.envelope(kiosk, opened, code, reference, reference)), 409, "consent-refused")
    with actions.svc.db.transaction() as session:
        actions_seen = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("checkin.consent.%")).order_by(AuditEntry.id)
        ).all()
    assert actions_seen == ["checkin.consent.accepted", "checkin.consent.refused"]
    # A used session cannot be refused any more.
    second = actions.session(kiosk, code.reference)
    assert actions.verify(actions.envelope(kiosk, second, code, reference, reference)).status_code == 200
    assert_problem(actions.consent(kiosk, second.session_id, "refused", 1), 409, "replayed-envelope")


def test_consent_requests_are_signed_and_not_replayable(actions: Actions) -> None:
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference, consent=False)
    path = f"/api/v1/sessions/{opened.session_id}/consent"
    body = b'{"decision": "refused", "version": 1}'
    unsigned = actions.client.post(path, data=body, content_type="application/json")
    assert_problem(unsigned, 401, "invalid-request-signature")
    headers = sign_request(kiosk.key, kiosk.kiosk_id, "POST", path, body)
    tampered = actions.client.post(
        path, data=body.replace(b"refused", b"accepted"), headers=headers, content_type="application/json"
    )
    assert_problem(tampered, 401, "invalid-request-signature")
    assert actions.client.post(path, data=body, headers=headers, content_type="application/json").status_code == 200
    replayed = actions.client.post(path, data=body, headers=headers, content_type="application/json")
    assert_problem(replayed, 409, "replayed-request")


def test_a_changed_notice_needs_a_new_session(actions: Actions) -> None:
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference, consent=False)
    with actions.svc.db.transaction() as session:
        prop.save(session, prop.ConsentNotice(version=2, text={"en": "New text", "zh-Hans": "新文本"}), actor="test")
    assert_problem(actions.consent(kiosk, opened.session_id, "accepted", 1), 409, "consent-version-mismatch")
    fresh = actions.open_session(kiosk, code.reference)
    assert fresh.json["consent"]["version"] == 2
    assert actions.consent(kiosk, fresh.json["session_id"], "accepted", 2).status_code == 200


def test_consent_is_exported_and_erased_with_the_stay(actions: Actions) -> None:
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference, consent=False)
    assert actions.consent(kiosk, opened.session_id, "refused", 1).status_code == 200
    with actions.svc.db.transaction() as session:
        stay = session.scalars(select(Stay).where(Stay.reference == code.reference)).one()
        document = export_stay(session, stay, actor="test", reason="guest asked")
        (exported,) = document["checkin_sessions"]
        assert exported["consent"] == {"decision": "refused", "version": 1, "at": exported["consent"]["at"]}
        assert exported["consent"]["at"] is not None
        erase_stay(session, stay, actor="test", reason="guest asked")
    with actions.svc.db.transaction() as session:
        assert session.get(CheckinSession, str(opened.session_id)) is None
