"""Five failed verifications for a stay within three minutes lock it until staff unlock it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from service.checkin.lockout import MAX_FAILURES, WINDOW_S, recent_failures, unlock_stay
from service.checkin.overrides import override_stay
from service.errors import InvalidTransition
from service.stays.reservations import stay_by_reference
from service.storage.tables import AuditEntry, CheckinAttempt, Stay
from tests.helpers.service import Actions, assert_problem, near, random_template


def fail(actions: Actions, kiosk, code, *, secret: bytes | None = None):
    opened = actions.session(kiosk, code.reference)
    return actions.verify(actions.envelope(kiosk, opened, code, random_template(1), random_template(2), secret=secret))


def test_fifth_failure_locks_until_unlocked(actions: Actions) -> None:
    code = actions.reservation()
    kiosk = actions.kiosk()
    for _ in range(MAX_FAILURES - 1):
        assert fail(actions, kiosk, code).json["decision"] == "rejected"
    assert_problem(fail(actions, kiosk, code, secret=b"\x00" * 16), 403, "booking-secret-mismatch")
    answer = actions.open_session(kiosk, code.reference)
    assert_problem(answer, 423, "stay-locked")
    with actions.svc.db.transaction() as session:
        stay = stay_by_reference(session, code.reference)
        assert stay.locked_at is not None
        unlock_stay(session, stay, actor="staff:ana", reason="guest showed passport at desk")
    reference = random_template(7)
    opened = actions.session(kiosk, code.reference)
    answer = actions.verify(actions.envelope(kiosk, opened, code, near(reference, 0.01), reference))
    assert answer.json["decision"] == "accepted"
    with actions.svc.db.transaction() as session:
        actions_seen = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions_seen.count("stay.lock") == 1
        assert "stay.unlock" in actions_seen


def test_a_locked_stay_refuses_a_pending_envelope(actions: Actions) -> None:
    code = actions.reservation()
    kiosk = actions.kiosk()
    reference = random_template(8)
    pending = actions.session(kiosk, code.reference)
    envelope = actions.envelope(kiosk, pending, code, near(reference, 0.01), reference)
    for _ in range(MAX_FAILURES):
        fail(actions, kiosk, code)
    assert_problem(actions.verify(envelope), 423, "stay-locked")
    with actions.svc.db.transaction() as session:
        stay = stay_by_reference(session, code.reference)
        assert stay.status == "reserved"


def test_failures_outside_the_window_or_before_unlock_do_not_count(actions: Actions) -> None:
    code = actions.reservation()
    now = dt.datetime.now(dt.UTC)
    with actions.svc.db.transaction() as session:
        stay = stay_by_reference(session, code.reference)
        for age in (WINDOW_S + 5, WINDOW_S + 60, 10, 20):
            session.add(
                CheckinAttempt(
                    session_id="s",
                    stay_id=stay.id,
                    kiosk_id="k",
                    decision="rejected",
                    reason="no-match",
                    model_id="m",
                    created_at=now - dt.timedelta(seconds=age),
                )
            )
        session.flush()
        assert recent_failures(session, stay.id, now=now) == 2
        stay.unlocked_at = now - dt.timedelta(seconds=15)
        assert recent_failures(session, stay.id, now=now) == 1


def test_unlock_needs_a_lock_and_a_reason(actions: Actions) -> None:
    code = actions.reservation()
    with actions.svc.db.transaction() as session:
        stay = session.scalars(select(Stay).where(Stay.reference == code.reference)).one()
        with pytest.raises(InvalidTransition):
            unlock_stay(session, stay, actor="staff:ana", reason="no lock")


def test_override_checks_in_and_clears_the_lock(actions: Actions) -> None:
    code = actions.reservation()
    kiosk = actions.kiosk()
    for _ in range(MAX_FAILURES):
        fail(actions, kiosk, code)
    with actions.svc.db.transaction() as session:
        stay = stay_by_reference(session, code.reference)
        result = override_stay(session, stay, actor="staff:ana", reason="ID checked by hand: passport")
        assert result.was_locked
        assert result.status == "checked_in"
    with actions.svc.db.transaction() as session:
        stay = stay_by_reference(session, code.reference)
        assert stay.locked_at is None
        assert stay.checked_in_at is not None
        last = session.scalars(select(CheckinAttempt).order_by(CheckinAttempt.id.desc())).first()
        assert last is not None
        assert (last.decision, last.reason, last.score) == ("accepted", "staff-override", None)
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "stay.override")).one()
        assert "passport" in entry.details
