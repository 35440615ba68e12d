"""The PMS API: authentication and validation."""

from __future__ import annotations

from tests.helpers.service import Actions, assert_problem


def test_reservations_need_an_api_key(actions: Actions) -> None:
    body = {"guest_name": "A", "arrival": "2026-11-23", "departure": "2026-11-24"}
    assert_problem(actions.client.post("/pms/v1/reservations", json=body), 401, "unauthenticated")
    wrong = {"Authorization": "Bearer lethe_pms_not-a-key"}
    assert_problem(actions.client.post("/pms/v1/reservations", json=body, headers=wrong), 401, "unauthenticated")


def test_reservation_is_validated(actions: Actions) -> None:
    bad = {"guest_name": "A", "arrival": "2026-11-24", "departure": "2026-11-23"}
    assert_problem(actions.client.post("/pms/v1/reservations", json=bad, headers=actions.pms), 400, "bad-request")
    extra = {"guest_name": "A", "arrival": "2026-11-23", "departure": "2026-11-24", "face": "x"}
    assert_problem(actions.client.post("/pms/v1/reservations", json=extra, headers=actions.pms), 400, "bad-request")
    assert_problem(
        actions.client.post("/pms/v1/reservations", data="[", headers=actions.pms, content_type="application/json"),
        400,
        "bad-request",
    )


def test_booking_code_is_returned_once_and_never_again(actions: Actions) -> None:
    code = actions.reservation()
    answer = actions.client.get(f"/pms/v1/reservations/{code.reference}", headers=actions.pms)
    assert answer.status_code == 200
    assert answer.json["reference"] == code.reference
    assert str(code).split(".")[-1] not in answer.get_data(as_text=True)
    assert "booking_code" not in answer.json


def test_duplicate_reference(actions: Actions) -> None:
    body = {"guest_name": "A", "arrival": "2026-11-23", "departure": "2026-11-24", "reference": "DUPL1CAT"}
    assert actions.client.post("/pms/v1/reservations", json=body, headers=actions.pms).status_code == 201
    assert_problem(actions.client.post("/pms/v1/reservations", json=body, headers=actions.pms), 409, "already-exists")
