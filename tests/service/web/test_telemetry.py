"""Operations: /metrics without personal data, JSON request logs, readiness, the purge schedule."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time

import pytest

from service.stays.reservations import create_reservation, stay_by_reference
from service.web.schedule import start
from tests.helpers.service import Actions, near, random_template


def sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if wanted else "") + r" ([0-9.e+-]+)"
    found = re.search(pattern, text)
    return float(found.group(1)) if found else 0.0


def test_metrics_count_outcomes_without_personal_data(actions: Actions) -> None:
    before = actions.client.get("/metrics").get_data(as_text=True)
    reference = random_template(81)
    code, answer = actions.checkin(near(reference, 0.01), reference)
    assert answer.json["decision"] == "accepted"
    _, rejected = actions.checkin(random_template(1), random_template(2))
    assert rejected.json["reason"] == "no-match"
    actions.verify(b"\x00" * 300)
    checkout = actions.client.post(f"/pms/v1/reservations/{code.reference}/checkout", headers=actions.pms)
    assert checkout.status_code == 200
    after = actions.client.get("/metrics")
    assert after.status_code == 200
    assert after.mimetype == "text/plain"
    text = after.get_data(as_text=True)
    for outcome in ("accepted", "no-match", "invalid-envelope"):
        assert (
            sample(text, "lethe_verifications_total", outcome=outcome)
            == sample(before, "lethe_verifications_total", outcome=outcome) + 1
        )
    assert sample(text, "lethe_verification_duration_seconds_count") >= 3
    assert sample(text, "lethe_checkout_to_deletion_seconds_count", path="checkout") >= 1
    assert 'endpoint="kiosk_api.verify"' in text
    for personal in (code.reference, "Ada", str(code)):
        assert personal not in text


def test_request_log_is_json_without_path_or_personal_data(actions: Actions, capfd: pytest.CaptureFixture[str]) -> None:
    code = actions.reservation("Zelda Private")
    capfd.readouterr()
    answer = actions.client.get(f"/pms/v1/reservations/{code.reference}", headers=actions.pms)
    assert answer.headers["X-Request-Id"]
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line.get("event") == "request"]
    assert request_lines, lines
    last = request_lines[-1]
    assert last["endpoint"] == "pms_api.get_reservation"
    assert last["status"] == 200
    assert last["request_id"] == answer.headers["X-Request-Id"]
    assert {"timestamp", "level", "duration_ms"} <= set(last)
    dumped = json.dumps(lines)
    assert code.reference not in dumped
    assert "Zelda" not in dumped


def test_readyz_and_healthz(actions: Actions) -> None:
    assert actions.client.get("/readyz").json == {"status": "ready"}
    assert actions.client.get("/healthz").json == {"status": "ok"}


def test_the_schedule_purges(actions: Actions, caplog: pytest.LogCaptureFixture) -> None:
    today = dt.datetime.now(dt.UTC).date()
    with actions.svc.db.transaction() as session:
        reference = create_reservation(
            session,
            actions.svc.keyring,
            guest_name="N",
            arrival=today - dt.timedelta(5),
            departure=today - dt.timedelta(4),
            actor="t",
        ).stay.reference
    stop = threading.Event()
    thread = start(actions.client.application, 1, stop)
    assert thread is not None
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with actions.svc.db.transaction() as session:
                if stay_by_reference(session, reference).status == "no_show":
                    break
            time.sleep(0.2)
        with actions.svc.db.transaction() as session:
            assert stay_by_reference(session, reference).status == "no_show"
    finally:
        stop.set()
        thread.join(5)
    assert start(actions.client.application, 0) is None
