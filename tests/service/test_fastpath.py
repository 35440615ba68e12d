"""``POST /api/v1/verify`` through the WSGI fast path answers as the Flask route does (``service.api.fastpath``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from service import migrate
from service.api.fastpath import VerifyFastPath
from service.app import create_app
from service.context import EXTENSION
from service.settings import Settings
from tests.service.conftest import ENVELOPE, Actions, near, random_template

Case = Callable[[Actions], tuple[bytes, dict[str, str]]]


@pytest.fixture
def both(settings: Settings) -> Iterator[tuple[Actions, Actions]]:
    """Two apps on one database and key folder: the fast path on (the default) and off."""
    migrate.upgrade(settings.resolved_database_url)
    apps = [create_app(settings), create_app(settings.model_copy(update={"verify_fast_path": False}))]
    assert isinstance(apps[0].wsgi_app, VerifyFastPath)
    assert not isinstance(apps[1].wsgi_app, VerifyFastPath)
    try:
        yield tuple(Actions(_client(app), app.extensions[EXTENSION]) for app in apps)  # type: ignore[misc]
    finally:
        for app in apps:
            app.extensions[EXTENSION].db.dispose()


def _client(app: Flask) -> FlaskClient:
    app.config["TESTING"] = True
    return app.test_client()


def _sealed(actions: Actions, *, match: bool = True) -> bytes:
    reference = random_template(7)
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)
    live = near(reference, 0.01) if match else random_template(8)
    return actions.envelope(kiosk, opened, code, live, reference)


def accepted(actions: Actions) -> tuple[bytes, dict[str, str]]:
    return _sealed(actions), {"Content-Type": ENVELOPE, "X-Request-Id": "req-accepted"}


def rejected(actions: Actions) -> tuple[bytes, dict[str, str]]:
    return _sealed(actions, match=False), {"Content-Type": ENVELOPE}


def garbage(actions: Actions) -> tuple[bytes, dict[str, str]]:
    return b"\x01" * 600, {"Content-Type": ENVELOPE}


def wrong_media_type(actions: Actions) -> tuple[bytes, dict[str, str]]:
    return _sealed(actions), {"Content-Type": "application/json"}


def media_type_with_parameters(actions: Actions) -> tuple[bytes, dict[str, str]]:
    return _sealed(actions), {"Content-Type": ENVELOPE.upper() + "; charset=binary"}


def too_large(actions: Actions) -> tuple[bytes, dict[str, str]]:
    return b"\x00" * (actions.svc.settings.max_body_bytes + 1), {"Content-Type": ENVELOPE}


def sent_twice(actions: Actions) -> tuple[bytes, dict[str, str]]:
    body = _sealed(actions)
    assert actions.client.post("/api/v1/verify", data=body, content_type=ENVELOPE).status_code == 200
    return body, {"Content-Type": ENVELOPE}  # the replay


CASES = [accepted, rejected, garbage, wrong_media_type, media_type_with_parameters, too_large, sent_twice]


def _outcomes() -> dict[str, float]:
    return {
        sample.labels["outcome"]: sample.value
        for metric in REGISTRY.collect()
        if metric.name == "lethe_verifications"
        for sample in metric.samples
        if sample.name == "lethe_verifications_total"
    }


def _answer(actions: Actions, case: Case, caplog: pytest.LogCaptureFixture) -> dict[str, object]:
    body, headers = case(actions)
    caplog.clear()
    before = _outcomes()
    with caplog.at_level(logging.INFO, logger="service.request"):
        response = actions.client.post("/api/v1/verify", data=body, headers=headers)
    counted = {k: v - before.get(k, 0) for k, v in _outcomes().items() if v != before.get(k, 0)}
    json = response.get_json(silent=True) or {}
    lines = [r for r in caplog.records if r.name == "service.request"]
    return {
        "status": response.status_code,
        "type": response.headers["Content-Type"],
        "body": {k: v for k, v in json.items() if k != "session"},
        "has_session": "session" in json,
        "request_id": response.headers["X-Request-Id"]
        if "X-Request-Id" in headers
        else bool(response.headers.get("X-Request-Id")),
        "counted": counted,
        "log": [(r.endpoint, r.method, r.status, r.request_id == response.headers["X-Request-Id"]) for r in lines],  # type: ignore[attr-defined]
        "traceback": "Traceback" in response.get_data(as_text=True),
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_the_fast_path_answers_as_the_flask_route(
    both: tuple[Actions, Actions], case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    fast, flask = (_answer(actions, case, caplog) for actions in both)
    assert fast == flask
    assert not fast["traceback"]
    assert fast["log"][0][:2] == ("kiosk_api.verify", "POST")  # one request line, named as the route


def test_other_routes_and_methods_still_go_to_flask(both: tuple[Actions, Actions]) -> None:
    fast, flask = both
    for actions in (fast, flask):
        assert actions.client.get("/api/v1/verify").status_code == 405
        assert actions.client.get("/healthz").json == {"status": "ok"}
    assert fast.client.get("/api/v1/verify").get_json() == flask.client.get("/api/v1/verify").get_json()
