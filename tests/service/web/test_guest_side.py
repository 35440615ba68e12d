"""The service's part of the guest's side: kiosk status reports, the first name in a decision, the receipt page."""

from __future__ import annotations

import base64
import json
from typing import Any

from protocol import receipt_fragment, receipt_from_fragment, sign_request, verify_receipt
from protocol.encoding import b64url_encode
from service import property as prop
from service.checkin.kiosks import list_kiosks
from service.checkin.verification import first_name
from tests.helpers.service import Actions, Kiosk, near, random_template


def report(actions: Actions, kiosk: Kiosk, document: dict[str, Any]) -> Any:
    path = "/api/v1/kiosks/status"
    body = json.dumps(document).encode()
    headers = sign_request(kiosk.key, kiosk.kiosk_id, "POST", path, body)
    return actions.client.post(path, data=body, headers=headers, content_type="application/json")


def test_a_kiosk_reports_its_state_and_gets_what_its_screen_shows(actions: Actions) -> None:
    kiosk = actions.kiosk()
    with actions.svc.db.transaction() as session:
        prop.save(
            session,
            prop.General(
                name="Hotel Lethe",
                accent_colour="#8a1538",
                logo=prop.Logo(media_type="image/png", data=base64.b64encode(b"\x89PNG...").decode()),
            ),
            actor="test",
        )
    answer = report(actions, kiosk, {"state": "out-of-order", "error": "source-unavailable"})
    assert answer.status_code == 200, answer.json
    assert answer.json["property"] == {
        "name": "Hotel Lethe",
        "accent_colour": "#8a1538",
        "logo": {"media_type": "image/png", "data": base64.b64encode(b"\x89PNG...").decode()},
    }
    assert answer.json["receipt"] == {
        "key_id": actions.svc.keyring.receipt_key.public_key().key_id.hex(),
        "page_url": "http://localhost/receipt",
    }
    assert report(actions, kiosk, {"state": "ready", "error": None}).status_code == 200
    with actions.svc.db.transaction() as session:
        (info,) = [k for k in list_kiosks(session) if k.id == str(kiosk.kiosk_id)]
    assert (info.state, info.last_error) == ("ready", "source-unavailable")  # the last error stays for staff
    assert info.last_error_at is not None


def test_a_status_report_must_be_signed_and_well_formed(actions: Actions) -> None:
    kiosk = actions.kiosk()
    unsigned = actions.client.post("/api/v1/kiosks/status", json={"state": "ready"})
    assert unsigned.json["code"] == "invalid-request-signature"
    assert report(actions, kiosk, {"state": "asleep"}).json["code"] == "bad-request"
    assert report(actions, kiosk, {"state": "out-of-order", "error": "Not A Code!"}).json["code"] == "bad-request"


def test_an_accepted_decision_names_the_guest_by_first_name_only_then() -> None:
    assert first_name("Lin-Manuel Miranda") == "Lin-Manuel"
    assert first_name("  Ada   Lovelace ") == "Ada"
    assert first_name("林曼努") == "林曼努"


def test_only_an_accepted_decision_carries_the_first_name(actions: Actions) -> None:
    enrolled = random_template(1)
    _, accepted = actions.checkin(near(enrolled, 0.01), enrolled)
    assert accepted.json["decision"] == "accepted"
    assert accepted.json["first_name"] == "Ada"
    _, rejected = actions.checkin(random_template(2), enrolled)
    assert rejected.json["decision"] == "rejected"
    assert "first_name" not in rejected.json


def test_the_receipt_page_is_self_contained_and_loads_nothing(actions: Actions) -> None:
    page = actions.client.get("/receipt")
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert page.headers["Referrer-Policy"] == "no-referrer"
    html = page.get_data(as_text=True)
    key = actions.svc.keyring.receipt_key.public_key()
    assert key.key_id.hex() in html
    assert b64url_encode(key.raw) in html
    assert "<link" not in html
    assert " src=" not in html


def test_a_receipt_survives_its_trip_through_a_link(actions: Actions) -> None:
    code = actions.reservation()
    receipt = actions.client.post(f"/pms/v1/reservations/{code.reference}/checkout", headers=actions.pms).json[
        "receipt"
    ]
    fragment = receipt_fragment(receipt)
    assert fragment.startswith(f"r1.{receipt['key_id']}.")
    assert "#" not in fragment
    assert receipt_from_fragment(fragment) == receipt
    assert verify_receipt(receipt_from_fragment("#" + fragment), actions.svc.keyring.receipt_key.public_key())


def test_the_demo_liveness_policy_is_named_in_the_audit_for_every_session(actions: Actions) -> None:
    from sqlalchemy import select

    from service.storage.tables import AuditEntry

    assert prop.Liveness().require_challenge  # production is the default
    kiosk = actions.kiosk()
    production = actions.open_session(kiosk, actions.reservation().reference)
    with actions.svc.db.transaction() as session:
        prop.save(session, prop.Liveness(require_challenge=False), actor="test")
    demo = actions.open_session(kiosk, actions.reservation().reference)
    assert demo.json["challenge"] == "none"
    with actions.svc.db.transaction() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        entries = [(row.action, json.loads(row.details)) for row in rows]
    opened = [details for action, details in entries if action == "checkin.session.open"]
    assert opened == [{}, {"liveness_policy": "passive-only-demo"}]
    assert ("property.settings.update", {"liveness_policy": "passive-only-demo"}) in entries
    assert production.status_code == 201
