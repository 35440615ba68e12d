"""The audit log is a hash chain: every action appends, an edit is found and named."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from service.storage.audit import verify_chain
from service.storage.tables import AuditEntry
from tests.helpers.service import Actions, near, random_template


def test_checkin_and_checkout_are_audited_without_biometric_data(actions: Actions) -> None:
    reference = random_template(21)
    code, _answer = actions.checkin(near(reference, 0.01), reference)
    actions.client.post(f"/pms/v1/reservations/{code.reference}/checkout", headers=actions.pms)
    with actions.svc.db.transaction() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        actions_seen = [e.action for e in entries]
        assert {"stay.create", "kiosk.register", "checkin.session.open", "checkin.verify", "stay.checkout"} <= set(
            actions_seen
        )
        text = " ".join(e.details for e in entries)
        assert str(round(float(reference.vector[0]), 4)) not in text
        assert code.stay_secret.hex() not in text
        assert verify_chain(session).ok


def _drop_append_only_guard(session) -> None:
    """What an attacker with database owner rights could do: remove the triggers."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
    else:
        session.execute(text("DROP TRIGGER audit_log_no_update"))
        session.execute(text("DROP TRIGGER audit_log_no_delete"))


def test_the_log_refuses_update_and_delete(actions: Actions) -> None:
    actions.checkin(random_template(1), random_template(2))
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), actions.svc.db.transaction() as session:
            session.execute(text(statement))
    with actions.svc.db.transaction() as session:
        assert verify_chain(session).ok
        assert session.scalar(select(func.count()).select_from(AuditEntry)) > 0


def test_a_deleted_entry_is_named(actions: Actions) -> None:
    actions.checkin(random_template(1), random_template(2))
    with actions.svc.db.transaction() as session:
        _drop_append_only_guard(session)
        ids = session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)).all()
        session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[1]})
    with actions.svc.db.transaction() as session:
        report = verify_chain(session)
        assert report.first_broken == ids[2]
        assert report.problem == "does not link to the entry before it"


def test_an_edited_entry_is_named(actions: Actions) -> None:
    actions.checkin(random_template(1), random_template(2))
    with actions.svc.db.transaction() as session:
        _drop_append_only_guard(session)
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        victim = entries[len(entries) // 2]
        victim.details = victim.details.replace("rejected", "accepted") if "rejected" in victim.details else '{"x":1}'
    with actions.svc.db.transaction() as session:
        report = verify_chain(session)
        assert not report.ok
        assert report.first_broken == victim.id
