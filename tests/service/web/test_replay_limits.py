"""Replay cache and rate limits, with the database and with a real Redis (LETHE_TEST_REDIS_URL)."""

from __future__ import annotations

import base64
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from protocol import SigningKey, sign_request
from service.app import create_app
from service.checkin.kiosks import register_kiosk
from service.checkin.sessions import open_session
from service.settings import Settings
from service.storage.tables import CheckinAttempt, CheckinSession, RequestNonce, StoredTemplate
from service.storage.tables import Kiosk as KioskRow
from service.web.context import EXTENSION
from tests.helpers.service import Actions, Kiosk, Opened, assert_problem, random_template

REDIS_ENV = "LETHE_TEST_REDIS_URL"


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """("", "") for the database, or (Redis URL, a key prefix of this test's own), cleaned up afterwards."""
    if request.param == "database":
        yield "", "lethe:"
        return
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} is not set")
    import redis

    prefix = f"lethe-test-{uuid.uuid4().hex[:10]}:"
    yield url, prefix
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def make_app(tmp_path: Path, migrated_url: str, store: tuple[str, str], **limits: str) -> Flask:
    settings = Settings(
        instance_path=tmp_path / "instance",
        database_url=migrated_url,
        redis_url=store[0],
        redis_prefix=store[1],
        **limits,
    )
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def limited(tmp_path: Path, migrated_url: str, store: tuple[str, str]) -> Iterator[tuple[Actions, Flask]]:
    app = make_app(tmp_path, migrated_url, store, rate_limit_stay="3/minute", rate_limit_kiosk="6/minute")
    yield Actions(app.test_client(), app.extensions[EXTENSION]), app
    app.extensions[EXTENSION].db.dispose()


def test_a_replayed_request_is_refused(limited: tuple[Actions, Flask], store: tuple[str, str]) -> None:
    actions, app = limited
    assert app.extensions[EXTENSION].replay.backend == ("redis" if store[0] else "database")
    code = actions.reservation()
    kiosk = actions.kiosk()
    body = f'{{"booking_reference": "{code.reference}"}}'.encode()
    headers = sign_request(kiosk.key, kiosk.kiosk_id, "POST", "/api/v1/sessions", body)
    first = actions.client.post("/api/v1/sessions", data=body, headers=headers, content_type="application/json")
    assert first.status_code == 201, first.json
    again = actions.client.post("/api/v1/sessions", data=body, headers=headers, content_type="application/json")
    assert_problem(again, 409, "replayed-request")
    if store[0]:
        import redis

        client = redis.Redis.from_url(store[0])
        keys = list(client.scan_iter(f"{store[1]}nonce:*"))
        assert len(keys) == 1
        assert 0 < client.pttl(keys[0]) <= 2 * 120 * 1000
        client.close()


def test_sessions_per_stay_are_limited(limited: tuple[Actions, Flask]) -> None:
    actions, _ = limited
    code = actions.reservation()
    kiosk = actions.kiosk()
    for _ in range(3):
        assert actions.open_session(kiosk, code.reference).status_code == 201
    answer = actions.open_session(kiosk, code.reference)
    assert_problem(answer, 429, "rate-limited")
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.json["retryable"] is True
    other = actions.reservation("Bo Guest")
    assert actions.open_session(kiosk, other.reference).status_code == 201


def test_requests_per_kiosk_are_limited(limited: tuple[Actions, Flask]) -> None:
    actions, _ = limited
    kiosk = actions.kiosk()
    codes = [actions.reservation(f"G{i}") for i in range(4)]
    statuses = [actions.open_session(kiosk, c.reference).status_code for c in codes for _ in range(2)]
    assert statuses[:6] == [201] * 6
    assert statuses[6:] == [429, 429]
    assert actions.open_session(actions.kiosk(), codes[0].reference).status_code == 201


def test_redis_limits_are_shared_by_workers(tmp_path: Path, migrated_url: str, store: tuple[str, str]) -> None:
    if not store[0]:
        pytest.skip("only Redis shares counters between processes")
    first = make_app(tmp_path, migrated_url, store, rate_limit_stay="2/minute")
    second = make_app(tmp_path, migrated_url, store, rate_limit_stay="2/minute")
    try:
        one = Actions(first.test_client(), first.extensions[EXTENSION])
        two = Actions(second.test_client(), second.extensions[EXTENSION])
        code = one.reservation()
        kiosk = one.kiosk()
        assert one.open_session(kiosk, code.reference).status_code == 201
        assert two.open_session(kiosk, code.reference).status_code == 201
        assert_problem(one.open_session(kiosk, code.reference), 429, "rate-limited")
    finally:
        first.extensions[EXTENSION].db.dispose()
        second.extensions[EXTENSION].db.dispose()


def test_a_refused_request_uses_up_its_nonce(limited: tuple[Actions, Flask]) -> None:
    """Regression: with the database cache the nonce was written in the request's own transaction, which a
    refusal rolls back: a session request refused 404 (no such reservation yet) succeeded when sent again."""
    actions, _ = limited
    kiosk = actions.kiosk()
    body = b'{"booking_reference": "LATER0001"}'
    headers = sign_request(kiosk.key, kiosk.kiosk_id, "POST", "/api/v1/sessions", body)
    first = actions.client.post("/api/v1/sessions", data=body, headers=headers, content_type="application/json")
    assert_problem(first, 404, "unknown-booking")
    today = dt.date.today().isoformat()
    created = actions.client.post(
        "/pms/v1/reservations",
        json={"guest_name": "Ada Guest", "arrival": today, "departure": today, "reference": "LATER0001"},
        headers=actions.pms,
    )
    assert created.status_code == 201, created.json
    again = actions.client.post("/api/v1/sessions", data=body, headers=headers, content_type="application/json")
    assert_problem(again, 409, "replayed-request")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [(b'{"booking_reference": 7}', 400, "bad-request"), (b"[" * 2000, 400, "bad-request")],
)
def test_a_request_refused_for_its_body_uses_up_its_nonce(
    limited: tuple[Actions, Flask], body: bytes, status: int, code: str
) -> None:
    actions, _ = limited
    kiosk = actions.kiosk()
    headers = sign_request(kiosk.key, kiosk.kiosk_id, "POST", "/api/v1/sessions", body)
    for expected in ((status, code), (409, "replayed-request")):
        answer = actions.client.post("/api/v1/sessions", data=body, headers=headers, content_type="application/json")
        assert_problem(answer, *expected)


@pytest.fixture
def redis_down(tmp_path: Path, migrated_url: str) -> Iterator[Actions]:
    """The service configured with a Redis that does not answer (nothing listens on its port)."""
    from lethe.demo import free_port

    app = make_app(tmp_path, migrated_url, (f"redis://127.0.0.1:{free_port()}/0", "lethe:"))
    yield Actions(app.test_client(), app.extensions[EXTENSION])
    app.extensions[EXTENSION].db.dispose()


def test_redis_down_is_a_retryable_503_and_nothing_is_written(redis_down: Actions) -> None:
    """Regression: sessions, verify and registration answered 500 ``internal-error``; only /readyz said 503."""
    actions = redis_down
    code = actions.reservation()  # the PMS API does not use Redis
    key = SigningKey.generate()
    public_key = base64.b64encode(key.public_key().raw).decode()
    answers = {
        "registration": actions.client.post(
            "/api/v1/kiosks", json={"code": actions.enrolment_code(), "public_key": public_key}
        ),
        "readyz": actions.client.get("/readyz"),
    }
    now = dt.datetime.now(dt.UTC)
    with actions.svc.db.transaction() as session:  # a kiosk and a session as they were before Redis went away
        row = register_kiosk(session, code=actions.enrolment_code(), public_key=key.public_key().raw, now=now)
        opened = open_session(session, row, reference=code.reference, now=now, ttl_s=300)
    kiosk = Kiosk(uuid.UUID(row.id), key)
    answers["session"] = actions.open_session(kiosk, code.reference)
    envelope = actions.envelope(
        kiosk, Opened(uuid.UUID(opened.id), opened.nonce), code, random_template(1), random_template(1)
    )
    answers["verify"] = actions.verify(envelope)
    for name, answer in answers.items():
        assert answer.status_code == 503, name
        assert_problem(answer, 503, "service-not-ready")
        assert answer.json["retryable"] is True
        assert int(answer.headers["Retry-After"]) >= 1
    with actions.svc.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(CheckinSession)) == 1  # the one made above
        assert session.scalar(select(func.count()).select_from(RequestNonce)) == 0
        assert session.scalar(select(func.count()).select_from(KioskRow)) == 1
        assert session.scalar(select(func.count()).select_from(StoredTemplate)) == 0
        assert session.scalar(select(func.count()).select_from(CheckinAttempt)) == 0
