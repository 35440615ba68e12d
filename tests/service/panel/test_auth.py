"""Signing in: passwords, TOTP, lockout, rate limit, CSRF, cookies, idle timeout, headers."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Literal

import pyotp
import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from service.panel import accounts
from service.storage.tables import AuditEntry, LoginFailure, StaffAccount
from service.web.context import Service
from tests.helpers.service import PASSWORD, Account, Staff, csrf_token


def test_anonymous_visitor_goes_to_login(client: FlaskClient) -> None:
    for path in ("/panel/", "/panel/today", "/panel/staff", "/panel/stays/x"):
        answer = client.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].startswith("/panel/login")


def test_admin_signs_in_with_totp(client: FlaskClient, staff: Staff, svc: Service) -> None:
    admin = staff.create("admin")
    assert admin.secret is not None
    assert staff.login(admin, code="").status_code == 401
    assert staff.login(admin, code="000000" if admin.code() != "000000" else "111111").status_code == 401
    answer = staff.login(admin)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/panel/today"
    cookie = next(v for k, v in answer.headers.items() if k == "Set-Cookie" and v.startswith("lethe_panel="))
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/panel" in cookie
    page = client.get("/panel/today")
    assert page.status_code == 200
    assert "Admin" in page.get_data(as_text=True)
    with svc.db.transaction() as session:
        actions = [e.action for e in session.query(AuditEntry).order_by(AuditEntry.id)]
    assert actions.count("staff.login.failed") == 2
    assert actions[-1] == "staff.login"


def test_a_totp_code_works_once(client: FlaskClient, staff: Staff) -> None:
    admin = staff.create("admin")
    code = admin.code()
    assert staff.login(admin, code=code).status_code == 302
    client.post("/panel/logout", data={"csrf_token": csrf_token(client.get("/panel/today").get_data(as_text=True))})
    assert staff.login(admin, code=code).status_code == 401


def test_front_desk_without_totp_signs_in_with_password(staff: Staff) -> None:
    desk = staff.create("front_desk")
    assert desk.secret is None
    assert staff.login(desk, password="wrong password!").status_code == 401
    assert staff.login(desk).status_code == 302


def test_lockout_after_repeated_failures(staff: Staff, svc: Service) -> None:
    desk = staff.create("front_desk")
    for _ in range(accounts.MAX_FAILURES):
        assert staff.login(desk, password="not the password").status_code == 401
    # Locked to browsers it never signed in from: even the right password is refused now.
    assert staff.login(desk).status_code == 401
    with svc.db.transaction() as session:
        account = session.query(StaffAccount).filter_by(username=desk.username).one()
        assert account.locked_until is not None
        assert account.locked_until > svc.now() + dt.timedelta(minutes=14)
        account.locked_until = svc.now() - dt.timedelta(seconds=1)
    assert staff.login(desk).status_code == 302


def test_rate_limit_per_source_address(staff: Staff) -> None:
    count = accounts.RATE_LIMIT // (accounts.MAX_FAILURES - 1) + 1
    names = [staff.create("front_desk", f"desk{i}") for i in range(count)]
    for account in names:
        for _ in range(accounts.MAX_FAILURES - 1):
            assert staff.login(account, password="not the password").status_code == 401
    # A correct login from the same address, from a browser none of them used, is refused while the limit holds.
    assert staff.login(names[-1]).status_code == 401


def _refusal_page(answer: object) -> str:
    page: str = answer.get_data(as_text=True)  # type: ignore[attr-defined]
    page = re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", page)
    return re.sub(r'id="username" name="username"[^>]*>', "", page)


def test_every_refusal_is_the_same_answer_and_verifies_one_hash(
    staff: Staff, svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = staff.create("front_desk")
    gone = staff.create("front_desk", "gone")
    locked = staff.create("front_desk", "locked")
    with svc.db.transaction() as session:
        disabled = session.query(StaffAccount).filter_by(username="gone").one()
        accounts.disable(session, disabled, actor="t", now=svc.now())
        session.query(StaffAccount).filter_by(username="locked").one().locked_until = svc.now() + accounts.LOCKOUT
    verified: list[str | bytes] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            verified.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "_hasher", CountingHasher())
    attempts = {
        "unknown user": (Account("nobody", "front_desk", None), PASSWORD),
        "wrong password": (desk, "not the password"),
        "disabled": (gone, PASSWORD),
        "locked": (locked, PASSWORD),
    }
    pages = {}
    for cause, (account, password) in attempts.items():
        verified.clear()
        answer = staff.login(account, password=password)
        assert answer.status_code == 401, cause  # type: ignore[attr-defined]
        assert len(verified) == 1, cause
        pages[cause] = _refusal_page(answer)
    assert len(set(pages.values())) == 1
    # The address limit refuses with the same page and the same hashing too.
    with svc.db.transaction() as session:
        digest = accounts.source_digest("127.0.0.1")
        session.add_all(LoginFailure(source=digest, at=svc.now()) for _ in range(accounts.RATE_LIMIT))
    verified.clear()
    answer = staff.login(desk)
    assert answer.status_code == 401  # type: ignore[attr-defined]
    assert len(verified) == 1
    assert _refusal_page(answer) == pages["unknown user"]


def test_an_outsider_cannot_lock_the_desk_out_of_its_own_browser(client: FlaskClient, staff: Staff) -> None:
    desk = staff.sign_in_as("front_desk")
    token = csrf_token(client.get("/panel/today").get_data(as_text=True))
    client.post("/panel/logout", data={"csrf_token": token})
    # A guest on the same network (same address, no device cookie) guesses until the account and the address lock.
    outsider = client.application.test_client()
    outsider.environ_base.update(client.environ_base)
    guesser = Staff(outsider, staff.svc)
    for _ in range(accounts.RATE_LIMIT + 1):
        assert guesser.login(desk, password="a wrong guess!").status_code == 401
    assert guesser.login(desk).status_code == 401
    # The desk's browser, which signed in before, still signs in with the right password.
    assert staff.login(desk).status_code == 302


def test_a_known_browser_is_throttled_on_its_own(client: FlaskClient, staff: Staff) -> None:
    desk = staff.sign_in_as("front_desk")
    client.post("/panel/logout", data={"csrf_token": csrf_token(client.get("/panel/today").get_data(as_text=True))})
    for _ in range(accounts.MAX_FAILURES):
        assert staff.login(desk, password="a wrong guess!").status_code == 401
    assert staff.login(desk).status_code == 401
    # Other browsers are not affected by that browser's failures.
    other = client.application.test_client()
    other.environ_base.update(client.environ_base)
    assert Staff(other, staff.svc).login(desk).status_code == 302


def test_post_without_csrf_token_is_refused_with_an_html_page(client: FlaskClient, staff: Staff) -> None:
    staff.sign_in_as("admin")
    answer = client.post("/panel/staff", data={"username": "mallory", "display_name": "M", "role": "admin"})
    assert answer.status_code == 400
    assert answer.mimetype == "text/html"
    assert "<h1>" in answer.get_data(as_text=True)
    answer = client.post("/panel/login", data={"username": "x", "password": "y"})
    assert answer.status_code == 400


def test_idle_timeout_ends_the_session(client: FlaskClient, staff: Staff) -> None:
    staff.sign_in_as("front_desk")
    with client.session_transaction("/panel/today", base_url="https://localhost") as session:
        session["seen"] = session["seen"] - 901
    answer = client.get("/panel/today")
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Sign in" in page


def test_automatic_refreshes_do_not_keep_a_session_alive(client: FlaskClient, staff: Staff) -> None:
    staff.sign_in_as("front_desk")
    with client.session_transaction("/panel/today", base_url="https://localhost") as session:
        session["seen"] = session["seen"] - 600
    assert client.get("/panel/today/board", headers={"X-Lethe-Poll": "1"}).status_code == 200
    with client.session_transaction("/panel/today", base_url="https://localhost") as session:
        session["seen"] = session["seen"] - 301
    assert client.get("/panel/today/board", headers={"X-Lethe-Poll": "1"}).status_code == 302


def test_disabling_an_account_ends_its_sessions(client: FlaskClient, staff: Staff, svc: Service) -> None:
    staff.sign_in_as("front_desk")
    assert client.get("/panel/today").status_code == 200
    with svc.db.transaction() as session:
        account = session.query(StaffAccount).filter_by(username="front-desk").one()
        accounts.disable(session, account, actor="test", now=svc.now())
    assert client.get("/panel/today").status_code == 302


def test_security_headers_and_csp(client: FlaskClient, staff: Staff) -> None:
    for answer in (client.get("/panel/login"), client.get("/panel/no-such-page")):
        csp = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-store"
    page = client.get("/panel/login").get_data(as_text=True)
    assert "<script>" not in page
    assert " on" + "click=" not in page
    assert " style=" not in page


def test_open_redirect_is_refused(staff: Staff) -> None:
    desk = staff.create("front_desk")
    token = staff.login_page_token()
    answer = staff.client.post(
        "/panel/login?next=//evil.example/",
        data={"csrf_token": token, "username": desk.username, "password": "correct horse battery"},
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/panel/today"


def test_manager_without_totp_cannot_sign_in(staff: Staff, svc: Service) -> None:
    manager = staff.create("manager")
    with svc.db.transaction() as session:
        session.query(StaffAccount).filter_by(username=manager.username).one().totp_secret = None
    assert staff.login(manager, code="").status_code == 401
    assert pyotp.random_base32()


def _panel_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("lethe_panel", path="/panel")
    assert cookie is not None
    return cookie.value


def _replay(client: FlaskClient, value: str) -> int:
    client.set_cookie("lethe_panel", value, domain="localhost", path="/panel")
    status: int = client.get("/panel/today").status_code
    return status


def test_a_cookie_captured_before_logout_is_refused(client: FlaskClient, staff: Staff) -> None:
    staff.sign_in_as("front_desk")
    captured = _panel_cookie(client)
    token = csrf_token(client.get("/panel/today").get_data(as_text=True))
    assert client.post("/panel/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/panel/today").status_code == 302
    assert _replay(client, captured) == 302


def test_admin_signs_an_account_out_everywhere(client: FlaskClient, staff: Staff, svc: Service) -> None:
    desk = staff.sign_in_as("front_desk")
    captured = _panel_cookie(client)
    client.delete_cookie("lethe_panel", domain="localhost", path="/panel")
    staff.sign_in_as("admin")
    with svc.db.transaction() as session:
        desk_id = session.query(StaffAccount).filter_by(username=desk.username).one().id
    token = csrf_token(client.get("/panel/staff").get_data(as_text=True))
    assert client.post(f"/panel/staff/{desk_id}/sign-out", data={"csrf_token": token}).status_code == 302
    assert _replay(client, captured) == 302
    with svc.db.transaction() as session:
        assert session.query(AuditEntry).filter_by(action="staff.sign-out", subject=desk_id).count() == 1


def test_a_session_ends_after_its_absolute_lifetime(client: FlaskClient, staff: Staff) -> None:
    staff.sign_in_as("front_desk")
    with client.session_transaction("/panel/today", base_url="https://localhost") as session:
        session["since"] = session["since"] - accounts.SESSION_LIFETIME.total_seconds() - 1
    assert client.get("/panel/today").status_code == 302


def test_plain_http_on_a_real_host_name_says_why_sign_in_fails(
    app: Flask, staff: Staff, caplog: pytest.LogCaptureFixture
) -> None:
    """Over plain HTTP to a host name that is not loopback the browser drops the Secure session cookie, and
    with it the form's CSRF token: the page and the log say so, instead of a bare "sign-in failed"."""
    admin = staff.create("admin")
    browser = app.test_client()  # as a browser would: http://hotel-server:8080, Secure cookies not sent back
    url = "http://hotel-server:8080"
    with caplog.at_level(logging.WARNING, logger="service.panel.security"):
        page = browser.get("/panel/login", base_url=url)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "reached over plain HTTP (http://hotel-server:8080)" in text
    assert "LETHE_PROXY_HOPS=1" in text
    assert any("plain HTTP at hotel-server:8080" in r.getMessage() for r in caplog.records)
    browser.delete_cookie(
        "lethe_panel", domain="hotel-server", path="/panel"
    )  # what the browser does with a Secure cookie over HTTP
    refused = browser.post(
        "/panel/login",
        base_url=url,
        data={"csrf_token": csrf_token(text), "username": admin.username, "password": PASSWORD, "code": admin.code()},
    )
    assert refused.status_code == 400
    assert "cookie is Secure" in refused.get_data(as_text=True)
    assert "Sign-in failed" not in refused.get_data(as_text=True)


def test_plain_http_on_loopback_is_not_flagged(app: Flask) -> None:
    """Browsers keep Secure cookies on http://localhost and 127.0.0.1: no warning there."""
    for host in ("localhost:8080", "127.0.0.1:8080", "[::1]:8080"):
        page = app.test_client().get("/panel/login", base_url=f"http://{host}")
        assert "plain HTTP" not in page.get_data(as_text=True), host
