"""Data-subject requests: export without templates, erase everything, both audited."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from service.errors import ReasonRequired, UnknownBooking
from service.stays.datasubject import erase_stay, export_stay
from service.stays.forget import Forgotten
from service.stays.reservations import stay_by_reference
from service.storage.audit import verify_chain
from service.storage.tables import AuditEntry, CheckinAttempt, CheckinSession, StayKey, StoredTemplate
from tests.helpers.service import Actions, near, random_template


def test_export_holds_the_record_but_no_template_bytes(actions: Actions) -> None:
    reference = random_template(51)
    code, answer = actions.checkin(near(reference, 0.01), reference)
    assert answer.json["decision"] == "accepted"
    with actions.svc.db.transaction() as session:
        stay = stay_by_reference(session, code.reference)
        ciphertext = session.scalars(select(StoredTemplate.ciphertext)).one()
        wrapped = session.scalars(select(StayKey.wrapped_seed)).one()
        document = export_stay(session, stay, actor="staff:ana", reason="guest asked by email")
    text = json.dumps(document)
    assert document["stay"]["guest_name"] == "Ada Guest"
    assert document["checkin_attempts"][0]["decision"] == "accepted"
    assert document["templates_held"][0]["encrypted"] is True
    assert document["data_key_held"] is not None
    assert "stay.create" in {e["action"] for e in document["audit"]}
    for secret in (ciphertext, wrapped, code.stay_secret):
        assert secret.hex() not in text
        assert secret[:12].hex() not in text
    import base64

    assert base64.b64encode(ciphertext)[:16].decode() not in text
    with actions.svc.db.transaction() as session:
        assert session.scalars(select(AuditEntry.action).order_by(AuditEntry.id.desc())).first() == "stay.export"


def test_erase_deletes_everything_about_the_stay(actions: Actions) -> None:
    reference = random_template(52)
    code, _ = actions.checkin(near(reference, 0.01), reference)
    with actions.svc.db.transaction() as session:
        stay = stay_by_reference(session, code.reference)
        stay_id = stay.id
        erasure = erase_stay(session, stay, actor="staff:ana", reason="erasure request #12")
    assert erasure.deleted == Forgotten(templates=1, data_keys=1, sessions=1, attempts=1)
    with actions.svc.db.transaction() as session:
        with pytest.raises(UnknownBooking):
            stay_by_reference(session, code.reference)
        for model, column in (
            (StoredTemplate, StoredTemplate.stay_id),
            (StayKey, StayKey.stay_id),
            (CheckinSession, CheckinSession.stay_id),
            (CheckinAttempt, CheckinAttempt.stay_id),
        ):
            assert session.scalar(select(func.count()).select_from(model).where(column == stay_id)) == 0
        entries = session.scalars(select(AuditEntry).where(AuditEntry.subject == stay_id)).all()
        assert entries[-1].action == "stay.erase"
        assert "Ada" not in " ".join(e.details for e in entries)
        assert verify_chain(session).ok


def test_both_need_a_reason(actions: Actions) -> None:
    code = actions.reservation()
    with actions.svc.db.transaction() as session:
        stay = stay_by_reference(session, code.reference)
        with pytest.raises(ReasonRequired):
            export_stay(session, stay, actor="staff:ana", reason=" ")
        with pytest.raises(ReasonRequired):
            erase_stay(session, stay, actor="staff:ana", reason="")
