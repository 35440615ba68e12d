"""Smaller hardening (issue 14): headers, 405's Allow, strict dates, ?next=, who may read /metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from service.app import create_app
from service.settings import Settings
from service.web.context import EXTENSION
from service.web.server import _control_socket
from tests.helpers.service import Actions, Staff, assert_problem


def test_api_answers_carry_nosniff_csp_and_hsts_over_https_only(actions: Actions, app: Flask) -> None:
    """Regression: API answers had no nosniff, no CSP, and no HSTS even over HTTPS."""
    https = "https://localhost/"
    for answer in (
        actions.client.get("/api/v1/keys", base_url=https),
        actions.client.get("/pms/v1/reservations/NOSUCH42", headers=actions.pms, base_url=https),
        actions.client.get("/openapi.json", base_url=https),
    ):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = app.test_client().get("/api/v1/keys")
    assert "Strict-Transport-Security" not in plain.headers
    assert plain.headers["X-Content-Type-Options"] == "nosniff"
    page = actions.client.get("/receipt")  # a page with its own policy keeps it
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'; script-src")


def test_a_405_names_the_allowed_methods(actions: Actions) -> None:
    """Regression: the problem+json 405 dropped werkzeug's Allow header."""
    answer = actions.client.delete("/api/v1/keys")
    assert_problem(answer, 405, "method-not-allowed")
    assert set(answer.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


@pytest.mark.parametrize("date", ["0", "1700000000", "2026-1-1", "2026-02-30", " 2026-01-01", "2026-01-01T00:00"])
def test_the_listing_date_is_a_calendar_date_only(actions: Actions, date: str) -> None:
    """Regression: ``?date=0`` read as 1970-01-01 (pydantic takes a number for a Unix time)."""
    answer = actions.client.get("/pms/v1/reservations", query_string={"date": date}, headers=actions.pms)
    assert_problem(answer, 400, "bad-request")


def test_the_listing_date_reads_an_iso_date(actions: Actions) -> None:
    answer = actions.client.get("/pms/v1/reservations?date=2026-01-01", headers=actions.pms)
    assert answer.status_code == 200
    assert answer.json["date"] == "2026-01-01"


@pytest.mark.parametrize("target", ["/panel/x\r\nSet-Cookie: a=b", "/panel/\n", "/panel/a b", "/panel/\x00"])
def test_a_next_with_control_characters_is_ignored_at_sign_in(staff: Staff, target: str) -> None:
    """Regression: ``?next=`` with CR/LF made the sign-in's redirect a 500."""
    account = staff.create("front_desk")
    token = staff.login_page_token()
    answer = staff.client.post(
        "/panel/login",
        query_string={"next": target},
        data={"csrf_token": token, "username": account.username, "password": "correct horse battery"}
        | {"code": account.code()},
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert answer.headers["Location"].endswith("/panel/today")  # the default page, not the target
    assert "\n" not in answer.headers["Location"]


def metrics_app(tmp_path: Path, migrated_url: str, token: str) -> Flask:
    app = create_app(Settings(instance_path=tmp_path / "instance", database_url=migrated_url, metrics_token=token))
    app.config["TESTING"] = True
    return app


@pytest.mark.parametrize("token", ["", "s3cret-metrics-token"])
def test_metrics_need_the_token_or_a_loopback_client(tmp_path: Path, migrated_url: str, token: str) -> None:
    """Regression: /metrics answered anyone who reached the port."""
    app = metrics_app(tmp_path, migrated_url, token)
    try:
        client = app.test_client()
        remote = client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"})
        assert_problem(remote, 401, "unauthenticated")
        local = client.get("/metrics")  # the test client's address is 127.0.0.1
        if token:
            assert_problem(local, 401, "unauthenticated")
            assert_problem(client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401, "unauthenticated")
            with_token = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "192.0.2.7"}
            assert (
                client.get("/metrics", headers=with_token, environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
            )
        else:
            assert local.status_code == 200
            assert "lethe_" in local.get_data(as_text=True)
    finally:
        app.extensions[EXTENSION].db.dispose()


def test_each_instance_has_its_own_gunicorn_control_socket(tmp_path: Path) -> None:
    """Regression: every instance on a host shared ~/.gunicorn/gunicorn.ctl."""
    one = _control_socket(Settings(instance_path=tmp_path / "one"))
    two = _control_socket(Settings(instance_path=tmp_path / "two"))
    assert one["control_socket"] == str((tmp_path / "one" / "gunicorn.ctl").resolve())
    assert one["control_socket"] != two["control_socket"]
    assert one["control_socket_mode"] == 0o600
    deep = _control_socket(Settings(instance_path=tmp_path / ("x" * 120)))
    assert deep == {"control_socket_disable": True}
