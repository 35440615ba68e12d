"""The panel's actions on H4's domain functions: override, unlock, export, erase, kiosk suspend/resume/revoke."""

from __future__ import annotations

import base64
import json
import re

from flask.testing import FlaskClient

from service.checkin.lockout import MAX_FAILURES
from service.storage.tables import AuditEntry, Kiosk, Stay, StoredTemplate
from service.web.context import Service
from tests.helpers.service import Actions, Staff, csrf_token, near, random_template


def stay_id(svc: Service, reference: str) -> str:
    with svc.db.transaction() as session:
        return session.query(Stay).filter_by(reference=reference).one().id


def board_row(client: FlaskClient, reference: str) -> str:
    board = client.get("/panel/today/board").get_data(as_text=True)
    return dict(re.findall(r'<tr data-stay="([A-Z0-9]+)">(.*?)</tr>', board, re.S))[reference]


def test_override_a_rejection_needs_a_reason(client: FlaskClient, staff: Staff, actions: Actions, svc: Service) -> None:
    staff.sign_in_as("front_desk")
    code, answer = actions.checkin(random_template(21), random_template(22))
    assert answer.json["decision"] == "rejected"
    sid = stay_id(svc, code.reference)
    page = client.get(f"/panel/stays/{sid}").get_data(as_text=True)
    assert 'id="form-override"' in page
    token = csrf_token(page)
    refused = client.post(f"/panel/stays/{sid}/override", data={"csrf_token": token, "reason": " "})
    assert refused.status_code == 400
    assert "Write a reason" in refused.get_data(as_text=True)
    assert "state-rejected" in board_row(client, code.reference)
    done = client.post(
        f"/panel/stays/{sid}/override", data={"csrf_token": token, "reason": "Passport checked at the desk"}
    )
    assert done.status_code == 302
    assert "state-overridden" in board_row(client, code.reference)
    page = client.get(f"/panel/stays/{sid}").get_data(as_text=True)
    assert "staff override" in page
    with svc.db.transaction() as session:
        entry = session.query(AuditEntry).filter_by(action="stay.override", subject=sid).one()
        assert "Passport checked at the desk" in entry.details
        assert entry.actor == "staff:front-desk"


def test_locked_stay_is_unlocked_with_a_reason(
    client: FlaskClient, staff: Staff, actions: Actions, svc: Service
) -> None:
    staff.sign_in_as("front_desk")
    code = actions.reservation("Locked Guest")
    kiosk = actions.kiosk()
    for attempt in range(MAX_FAILURES):
        opened = actions.session(kiosk, code.reference)
        envelope = actions.envelope(kiosk, opened, code, random_template(30 + attempt), random_template(40 + attempt))
        actions.verify(envelope)
    sid = stay_id(svc, code.reference)
    assert "state-locked" in board_row(client, code.reference)
    page = client.get(f"/panel/stays/{sid}").get_data(as_text=True)
    assert 'id="form-unlock"' in page
    done = client.post(
        f"/panel/stays/{sid}/unlock", data={"csrf_token": csrf_token(page), "reason": "Lighting fixed, guest present"}
    )
    assert done.status_code == 302
    assert "state-rejected" in board_row(client, code.reference)
    again = client.post(
        f"/panel/stays/{sid}/unlock", data={"csrf_token": csrf_token(page), "reason": "Lighting fixed, guest present"}
    )
    assert again.status_code == 409
    assert again.mimetype == "text/html"


def test_export_is_a_json_download_without_template_bytes(
    client: FlaskClient, staff: Staff, actions: Actions, svc: Service
) -> None:
    staff.sign_in_as("front_desk")
    reference = random_template(50)
    code, answer = actions.checkin(near(reference, 0.01), reference)
    assert answer.json["decision"] == "accepted"
    sid = stay_id(svc, code.reference)
    with svc.db.transaction() as session:
        ciphertext = session.query(StoredTemplate).filter_by(stay_id=sid).one().ciphertext
    page = client.get(f"/panel/stays/{sid}").get_data(as_text=True)
    download = client.post(
        f"/panel/stays/{sid}/export",
        data={"csrf_token": csrf_token(page), "reason": "Guest asked at the desk, ID seen"},
    )
    assert download.status_code == 200
    assert download.mimetype == "application/json"
    assert f"lethe-export-{code.reference}.json" in download.headers["Content-Disposition"]
    text = download.get_data(as_text=True)
    document = json.loads(text)
    assert document["stay"]["reference"] == code.reference
    assert document["checkin_attempts"][0]["decision"] == "accepted"
    assert ciphertext.hex()[:32] not in text
    assert base64.b64encode(ciphertext).decode()[:32] not in text
    assert f"{reference.vector[0]:.6f}" not in text


def test_erase_is_for_managers_and_needs_confirmation(
    client: FlaskClient, staff: Staff, actions: Actions, svc: Service
) -> None:
    code = actions.reservation("Erase Me")
    sid = stay_id(svc, code.reference)
    staff.sign_in_as("front_desk")
    page = client.get(f"/panel/stays/{sid}").get_data(as_text=True)
    assert 'id="form-erase"' not in page
    token = csrf_token(page)
    assert (
        client.post(f"/panel/stays/{sid}/erase", data={"csrf_token": token, "reason": "Guest request"}).status_code
        == 403
    )
    staff.sign_in_as("manager")
    page = client.get(f"/panel/stays/{sid}").get_data(as_text=True)
    token = csrf_token(page)
    unconfirmed = client.post(f"/panel/stays/{sid}/erase", data={"csrf_token": token, "reason": "Guest request #12"})
    assert unconfirmed.status_code == 400
    assert "Tick the box" in unconfirmed.get_data(as_text=True)
    erased = client.post(
        f"/panel/stays/{sid}/erase", data={"csrf_token": token, "reason": "Guest request #12", "confirm": "yes"}
    )
    assert erased.status_code == 200
    assert "Stay erased" in erased.get_data(as_text=True)
    assert client.get(f"/panel/stays/{sid}").status_code == 404
    with svc.db.transaction() as session:
        assert session.get(Stay, sid) is None


def test_kiosk_suspend_resume_revoke(client: FlaskClient, staff: Staff, actions: Actions, svc: Service) -> None:
    kiosk = actions.kiosk()
    kid = str(kiosk.kiosk_id)
    staff.sign_in_as("manager")
    page = client.get("/panel/kiosks").get_data(as_text=True)
    token = csrf_token(page)
    assert client.post(f"/panel/kiosks/{kid}/suspend", data={"csrf_token": token, "reason": ""}).status_code == 400

    def status() -> str:
        with svc.db.transaction() as session:
            return session.get(Kiosk, kid).status

    for operation, expected in (("suspend", "suspended"), ("resume", "active"), ("revoke", "revoked")):
        answer = client.post(f"/panel/kiosks/{kid}/{operation}", data={"csrf_token": token, "reason": "Maintenance"})
        assert answer.status_code == 302, operation
        assert status() == expected
    refused = client.post(f"/panel/kiosks/{kid}/resume", data={"csrf_token": token, "reason": "Maintenance"})
    assert refused.status_code == 409
    assert "Revoked kiosks must register again." in client.get("/panel/kiosks").get_data(as_text=True)


def test_cancelled_reservation_reads_as_deleted(
    client: FlaskClient, staff: Staff, actions: Actions, svc: Service
) -> None:
    from service.stays.forget import cancel_reservation

    staff.sign_in_as("front_desk")
    code = actions.reservation("Cancelled Guest")
    with svc.db.transaction() as session:
        stay = session.query(Stay).filter_by(reference=code.reference).one()
        cancel_reservation(session, stay, actor="test", now=svc.now())
    row = board_row(client, code.reference)
    assert "state-deleted" in row
    assert "cancelled" in row
