"""PMS reservation management (update, cancel, list by date, CSV import) and kiosk checkout / session end."""

from __future__ import annotations

import base64
import datetime as dt

from sqlalchemy import func, select

from protocol import parse_booking_code, sign_request
from service.storage.tables import CheckinSession, Stay, StayKey
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


def test_kiosk_checkout_with_the_booking_qr(actions: Actions) -> None:
    reference = random_template(71)
    code, answer = actions.checkin(near(reference, 0.01), reference)
    kiosk = actions.kiosk()
    forged = str(code)[:-4] + ("AAAA" if not str(code).endswith("AAAA") else "BBBB")
    assert_problem(
        signed_post(actions, kiosk, "/api/v1/checkout", f'{{"booking_code": "{forged}"}}'.encode()),
        403,
        "booking-secret-mismatch",
    )
    answer = signed_post(actions, kiosk, "/api/v1/checkout", f'{{"booking_code": "{code}"}}'.encode())
    assert answer.status_code == 200, answer.json
    assert answer.json["receipt"]["claims"]["deleted"] == {"templates": 1, "data_keys": 1}
    assert_problem(
        signed_post(actions, kiosk, "/api/v1/checkout", f'{{"booking_code": "{code}"}}'.encode()),
        409,
        "stay-not-active",
    )
    assert_problem(
        signed_post(actions, kiosk, "/api/v1/checkout", b'{"booking_code": "LETHE1.nope.nope-nope-nope-nope"}'),
        400,
        "bad-request",
    )


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
