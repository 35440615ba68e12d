"""Signed audit checkpoints: a chain cut short or rewritten with every later hash recomputed is caught."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from protocol import InvalidSignature, SigningKey, verify_receipt
from service.storage import checkpoints
from service.storage.audit import Anchor, entry_hash, verify_chain
from service.storage.tables import AuditCheckpoint, AuditEntry
from service.web import schedule
from tests.helpers.service import Actions, near, random_template


def _drop_append_only_guard(session: Session) -> None:
    """What an attacker with database owner rights could do: remove the triggers."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
    else:
        session.execute(text("DROP TRIGGER audit_log_no_update"))
        session.execute(text("DROP TRIGGER audit_log_no_delete"))


def _checked_out(actions: Actions) -> dict[str, Any]:
    """A guest checked in and out; the receipt they took home."""
    reference = random_template(31)
    code, _answer = actions.checkin(near(reference, 0.01), reference)
    answer = actions.client.post(f"/pms/v1/reservations/{code.reference}/checkout", headers=actions.pms)
    assert answer.status_code == 200
    receipt: dict[str, Any] = answer.get_json()["receipt"]
    return receipt


def _receipt_anchor(actions: Actions, receipt: dict[str, Any]) -> list[Anchor]:
    return checkpoints.anchors_from({"receipt": receipt}, actions.svc.keyring.receipt_public_keys(), source="r")


def _more_activity(actions: Actions) -> None:
    actions.checkin(random_template(41), random_template(42))
    actions.checkin(random_template(43), random_template(44))


def _forget_stored_checkpoints(session: Session) -> None:
    session.execute(delete(AuditCheckpoint))


def test_the_receipt_carries_the_chain_head_with_the_checkout_recorded(actions: Actions) -> None:
    receipt = _checked_out(actions)
    claims = verify_receipt(receipt, actions.svc.keyring.receipt_key.public_key())
    assert claims.version == 2
    assert claims.audit is not None
    with actions.svc.db.transaction() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert claims.audit.entries == len(entries)
        assert claims.audit.head == entries[-1].hash
        assert entries[-1].action == "stay.checkout"
        stored = checkpoints.stored(session, newest_only=True)[0]["claims"]
        assert (stored["entries"], stored["head"]) == (claims.audit.entries, claims.audit.head)
        report = verify_chain(session, _receipt_anchor(actions, receipt))
    assert report.ok
    assert report.anchors == 1


def test_truncating_the_newest_entries_is_found_and_named(actions: Actions) -> None:
    receipt = _checked_out(actions)
    with actions.svc.db.transaction() as session:
        _drop_append_only_guard(session)
        _forget_stored_checkpoints(session)
        newest = session.scalars(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(2)).all()
        session.execute(delete(AuditEntry).where(AuditEntry.id.in_(newest)))
    with actions.svc.db.transaction() as session:
        assert verify_chain(session).ok  # the unkeyed chain alone cannot tell: the defect
        report = verify_chain(session, _receipt_anchor(actions, receipt))
    assert report.finding == "truncated"
    assert report.first_broken is None
    assert "2 entries are missing" in (report.problem or "")


def test_an_edited_entry_with_every_later_hash_recomputed_is_found(actions: Actions) -> None:
    receipt = _checked_out(actions)
    _more_activity(actions)
    with actions.svc.db.transaction() as session:
        _drop_append_only_guard(session)
        _forget_stored_checkpoints(session)
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        victim = next(e for e in entries if e.action == "checkin.verify")
        prev = victim.prev_hash
        for entry in entries[entries.index(victim) :]:
            details = '{"decision":"accepted"}' if entry is victim else entry.details
            entry.details, entry.prev_hash = details, prev
            entry.hash = entry_hash(entry)
            prev = entry.hash
            session.execute(
                update(AuditEntry)
                .where(AuditEntry.id == entry.id)
                .values(details=details, prev_hash=entry.prev_hash, hash=entry.hash)
            )
        session.expunge_all()
    with actions.svc.db.transaction() as session:
        assert verify_chain(session).ok  # the unkeyed chain alone cannot tell: the defect
        report = verify_chain(session, _receipt_anchor(actions, receipt))
    assert report.finding == "rewritten"
    assert "the last one a checkpoint confirms" in (report.problem or "")


def test_stored_checkpoints_count_only_new_entries_and_the_schedule_skips_an_unmoved_chain(actions: Actions) -> None:
    key = actions.svc.keyring.receipt_key
    actions.checkin(random_template(1), random_template(2))
    with actions.svc.db.transaction() as session:
        first = checkpoints.record_if_moved(session, key)
        assert first is not None
        assert checkpoints.record_if_moved(session, key) is None
    _more_activity(actions)
    with actions.svc.db.transaction() as session:
        second = checkpoints.record_if_moved(session, key)
        assert second is not None
        count = session.scalar(select(func.count()).select_from(AuditEntry))
        assert second["claims"]["entries"] == count
        anchors = checkpoints.anchors_from(
            json.loads(json.dumps(checkpoints.export_document(checkpoints.stored(session)))),
            actions.svc.keyring.receipt_public_keys(),
            source="export",
        )
        assert len(anchors) == 2
        assert verify_chain(session, anchors).ok


def test_the_service_schedule_signs_a_checkpoint_when_the_chain_moved(app: Flask, actions: Actions) -> None:
    actions.checkin(random_template(1), random_template(2))
    schedule.run_once(app)
    schedule.run_once(app)  # nothing moved: no second checkpoint
    with actions.svc.db.transaction() as session:
        documents = checkpoints.stored(session)
        count = session.scalar(select(func.count()).select_from(AuditEntry))
    assert len(documents) == 1
    assert documents[0]["claims"]["entries"] == count


def test_stored_checkpoints_of_a_retired_key_are_left_out_saved_ones_are_refused(actions: Actions) -> None:
    actions.checkin(random_template(1), random_template(2))
    with actions.svc.db.transaction() as session:
        checkpoints.record(session, actions.svc.keyring.receipt_key)
        export = checkpoints.export_document(checkpoints.stored(session))
    newer = [SigningKey.generate().public_key()]
    assert checkpoints.anchors_from(export, newer, source="stored", skip_unknown_keys=True) == []
    with pytest.raises(InvalidSignature, match="not among the keys given"):
        checkpoints.anchors_from(export, newer, source="saved")
