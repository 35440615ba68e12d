"""PMS reservation management (update, cancel, list by date, CSV import) and kiosk checkout / session end."""

from __future__ import annotations

import base64
import datetime as dt
import json

from sqlalchemy import func, select

from protocol import BookingCode, parse_booking_code, sign_request
from protocol.booking import encode_secret
from service.storage.tables import AuditEntry, CheckinSession, Stay, StayKey, StoredTemplate
from tests.helpers.service import Actions, assert_problem, near, random_template

TODAY = dt.date(2026, 11, 23)


def create(actions: Actions, name: str, arrival: dt.date, departure: dt.date) -> dict:
    answer = actions.client.post(
        "/pms/v1/reservations",
        json={"guest_name": name, "arrival": arrival.isoformat(), "departure": departure.isoformat()},
        headers=actions.pms,
    )
    assert answer.status_code == 201, answer.json
    return answer.json


def test_creation_answer_holds_the_qr_payload(actions: Actions) -> None:
    created = create(actions, "Ada", TODAY, TODAY)
    assert created["qr_payload"] == created["booking_code"]
    assert parse_booking_code(created["qr_payload"]).reference == created["reference"]
    # The QR itself, for the confirmation email: a PNG and an SVG that read back as the booking code.
    import cv2
    import numpy as np

    from edge.qr import decode_qr

    qr = created["qr"]
    png = base64.b64decode(qr["png_base64"], validate=True)
    assert cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (222, 222)
    assert decode_qr(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)) == created["booking_code"]
    assert qr["svg"].startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert qr["svg"].rstrip().endswith("</svg>")
    assert qr["email_html"].startswith(f'<img src="cid:{qr["email_cid"]}" width="222" height="222"')  # as the PNG
    assert f"booking {created['reference']}" in qr["email_html"]


def test_update_changes_fields_and_is_validated(actions: Actions) -> None:
    ref = create(actions, "Ada", TODAY, TODAY + dt.timedelta(1))["reference"]
    answer = actions.client.patch(
        f"/pms/v1/reservations/{ref}", json={"guest_name": "Ada L.", "departure": "2026-11-26"}, headers=actions.pms
    )
    assert answer.status_code == 200, answer.json
    assert (answer.json["guest_name"], answer.json["departure"]) == ("Ada L.", "2026-11-26")
    bad = actions.client.patch(f"/pms/v1/reservations/{ref}", json={"arrival": "2026-12-01"}, headers=actions.pms)
    assert_problem(bad, 400, "bad-request")
    assert_problem(
        actions.client.patch(f"/pms/v1/reservations/{ref}", json={"reference": "X"}, headers=actions.pms),
        400,
        "bad-request",
    )
    assert_problem(
        actions.client.patch("/pms/v1/reservations/NOSUCH42", json={"guest_name": "x"}, headers=actions.pms),
        404,
        "unknown-booking",
    )


def test_cancel_deletes_the_data_key(actions: Actions) -> None:
    ref = create(actions, "Ada", TODAY, TODAY)["reference"]
    answer = actions.client.post(f"/pms/v1/reservations/{ref}/cancel", headers=actions.pms)
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "cancelled"
    assert answer.json["deleted"]["data_keys"] == 1
    with actions.svc.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(StayKey)) == 0
    assert_problem(
        actions.client.post(f"/pms/v1/reservations/{ref}/cancel", headers=actions.pms), 409, "stay-not-active"
    )


def test_list_by_date(actions: Actions) -> None:
    a = create(actions, "Arrives", TODAY, TODAY + dt.timedelta(2))["reference"]
    b = create(actions, "Leaves", TODAY - dt.timedelta(2), TODAY)["reference"]
    create(actions, "Later", TODAY + dt.timedelta(5), TODAY + dt.timedelta(6))

    def listed(kind: str) -> list[str]:
        answer = actions.client.get(f"/pms/v1/reservations?date={TODAY.isoformat()}&kind={kind}", headers=actions.pms)
        assert answer.status_code == 200, answer.json
        assert all("booking_code" not in r for r in answer.json["reservations"])
        return [r["reference"] for r in answer.json["reservations"]]

    assert listed("arrivals") == [a]
    assert listed("departures") == [b]
    assert sorted(listed("in-house")) == sorted([a, b])
    assert_problem(actions.client.get("/pms/v1/reservations?date=soon", headers=actions.pms), 400, "bad-request")
    assert_problem(actions.client.get("/pms/v1/reservations?date=2026-11-23"), 401, "unauthenticated")


CSV = (
    "guest_name,arrival,departure,reference\n"
    "Ada Guest,2026-11-23,2026-11-25,\n"
    "Bo Guest,2026-11-23,2026-11-24,BOGUEST1\n"
)


def test_csv_import_is_all_or_nothing(actions: Actions) -> None:
    answer = actions.client.post("/pms/v1/reservations/import", data=CSV, content_type="text/csv", headers=actions.pms)
    assert answer.status_code == 201, answer.json
    created = answer.json["created"]
    assert [c["guest_name"] for c in created] == ["Ada Guest", "Bo Guest"]
    assert created[1]["reference"] == "BOGUEST1"
    assert all(parse_booking_code(c["qr_payload"]) for c in created)
    broken = CSV.replace("BOGUEST1", "BOGUEST2") + "Cy,2026-11-25,2026-11-23,\nDi,someday,2026-11-23,\n"
    answer = actions.client.post(
        "/pms/v1/reservations/import", data=broken, content_type="text/csv", headers=actions.pms
    )
    assert_problem(answer, 400, "bad-request")
    assert "line 4" in answer.json["detail"]
    assert "line 5" in answer.json["detail"]
    again = actions.client.post("/pms/v1/reservations/import", data=CSV, content_type="text/csv", headers=actions.pms)
    assert_problem(again, 409, "already-exists")
    with actions.svc.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Stay)) == 2
    assert_problem(
        actions.client.post(
            "/pms/v1/reservations/import", data="name\nx\n", content_type="text/csv", headers=actions.pms
        ),
        400,
        "bad-request",
    )
    assert_problem(
        actions.client.post("/pms/v1/reservations/import", json={"x": 1}, headers=actions.pms),
        415,
        "unsupported-media-type",
    )


def signed_post(actions: Actions, kiosk, path: str, body: bytes = b""):
    headers = sign_request(kiosk.key, kiosk.kiosk_id, "POST", path, body)
    return actions.client.post(path, data=body, headers=headers, content_type="application/json")


def checkout_body(reference: str, secret: bytes) -> bytes:
    return json.dumps({"reference": reference, "stay_secret": encode_secret(secret)}).encode()


def test_kiosk_checkout_with_the_booking_qr(actions: Actions) -> None:
    reference = random_template(71)
    code, answer = actions.checkin(near(reference, 0.01), reference)
    kiosk = actions.kiosk()
    assert_problem(
        signed_post(actions, kiosk, "/api/v1/checkout", checkout_body(code.reference, bytes(16))),
        403,
        "booking-secret-mismatch",
    )
    # The master secret is not the stay secret: a kiosk that sent it would be refused too.
    assert_problem(
        signed_post(actions, kiosk, "/api/v1/checkout", checkout_body(code.reference, code.master_secret)),
        403,
        "booking-secret-mismatch",
    )
    answer = signed_post(actions, kiosk, "/api/v1/checkout", checkout_body(code.reference, code.stay_secret))
    assert answer.status_code == 200, answer.json
    assert answer.json["receipt"]["claims"]["deleted"] == {"templates": 1, "data_keys": 1}
    assert_problem(
        signed_post(actions, kiosk, "/api/v1/checkout", checkout_body(code.reference, code.stay_secret)),
        409,
        "stay-not-active",
    )
    for bad in (
        {"booking_code": str(code)},
        {"reference": code.reference, "stay_secret": "nope"},
        {"reference": code.reference, "stay_secret": encode_secret(code.stay_secret)[:-1] + "B"},
    ):
        assert_problem(signed_post(actions, kiosk, "/api/v1/checkout", json.dumps(bad).encode()), 400, "bad-request")


def test_kiosk_ends_an_unused_session(actions: Actions) -> None:
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)
    path = f"/api/v1/sessions/{opened.session_id}/end"
    other = actions.kiosk()
    assert_problem(signed_post(actions, other, path), 404, "unknown-session")
    answer = signed_post(actions, kiosk, path)
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "ended"
    with actions.svc.db.transaction() as session:
        assert session.get_one(CheckinSession, str(opened.session_id)).status == "ended"
    assert_problem(signed_post(actions, kiosk, path), 409, "replayed-envelope")
    reference = random_template(72)
    envelope = actions.envelope(kiosk, opened, code, reference, reference)
    assert_problem(actions.verify(envelope), 409, "replayed-envelope")


def test_pms_side_booking_code_the_service_never_sees(actions: Actions) -> None:
    """The PMS makes the code (``lethe booking new``) and sends only its reference and fingerprint."""
    code = BookingCode("PMSSIDE1", bytes(range(16)))
    body = {"guest_name": "Ada", "arrival": TODAY.isoformat(), "departure": TODAY.isoformat()}
    no_reference = actions.client.post(
        "/pms/v1/reservations", json=body | {"stay_secret_fingerprint": code.fingerprint}, headers=actions.pms
    )
    assert_problem(no_reference, 400, "bad-request")
    bad = body | {"reference": code.reference, "stay_secret_fingerprint": code.fingerprint.upper()}
    assert_problem(actions.client.post("/pms/v1/reservations", json=bad, headers=actions.pms), 400, "bad-request")
    good = body | {"reference": code.reference, "stay_secret_fingerprint": code.fingerprint}
    created = actions.client.post("/pms/v1/reservations", json=good, headers=actions.pms)
    assert created.status_code == 201, created.json
    assert "booking_code" not in created.json
    assert "qr_payload" not in created.json
    reference = random_template(72)
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)
    answer = actions.verify(actions.envelope(kiosk, opened, code, near(reference, 0.01), reference))
    assert answer.json["decision"] == "accepted", answer.json


def test_reissue_forgets_the_templates_and_the_old_code(actions: Actions) -> None:
    reference = random_template(73)
    old, answer = actions.checkin(near(reference, 0.01), reference)
    assert answer.json["decision"] == "accepted"
    path = f"/pms/v1/reservations/{old.reference}/reissue"
    reissued = actions.client.post(path, headers=actions.pms)
    assert reissued.status_code == 200, reissued.json
    assert reissued.json["deleted"] == {"templates": 1, "data_keys": 1}
    new = parse_booking_code(reissued.json["booking_code"])
    assert new.reference == old.reference
    assert new.master_secret != old.master_secret
    with actions.svc.db.transaction() as session:
        stay = session.scalars(select(Stay).where(Stay.reference == old.reference)).one()
        assert session.scalar(select(func.count()).where(StoredTemplate.stay_id == stay.id)) == 0
        assert session.scalar(select(func.count()).where(StayKey.stay_id == stay.id)) == 1
        assert session.scalars(select(AuditEntry.action).where(AuditEntry.subject == stay.id)).all()[-1] == (
            "stay.reissue"
        )
    kiosk = actions.kiosk()
    assert_problem(
        signed_post(actions, kiosk, "/api/v1/checkout", checkout_body(old.reference, old.stay_secret)),
        403,
        "booking-secret-mismatch",
    )
    # Under the new code the guest enrols afresh (ID and live templates), then re-verifies against that template.
    for id_template in (reference, None):
        opened = actions.session(kiosk, new.reference)
        again = actions.verify(actions.envelope(kiosk, opened, new, near(reference, 0.01), id_template))
        assert again.json["decision"] == "accepted", again.json
    # PMS-side renewal: only the new fingerprint reaches the service.
    pms_code = BookingCode(new.reference, bytes(range(16)))
    by_pms = actions.client.post(path, json={"stay_secret_fingerprint": pms_code.fingerprint}, headers=actions.pms)
    assert by_pms.status_code == 200, by_pms.json
    assert "booking_code" not in by_pms.json
    assert_problem(actions.client.post(path, json={"other": 1}, headers=actions.pms), 400, "bad-request")
