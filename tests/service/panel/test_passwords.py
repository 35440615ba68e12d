"""Changing one's own password and an admin's reset (temporary password, two-factor re-enrolment): both end
the account's other sessions."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from service.panel import accounts
from service.storage.tables import AuditEntry, StaffAccount
from service.web.context import Service
from tests.helpers.service import PASSWORD, Account, Staff, csrf_token

NEW = "a brand new passphrase"


def change(client: FlaskClient, current: str, new: str, confirm: str | None = None) -> object:
    token = csrf_token(client.get("/panel/password").get_data(as_text=True))
    data = {"csrf_token": token, "current": current, "new": new, "confirm": new if confirm is None else confirm}
    return client.post("/panel/password", data=data)


def test_changing_ones_password_ends_the_other_sessions(client: FlaskClient, staff: Staff, svc: Service) -> None:
    desk = staff.sign_in_as("front_desk")
    other = client.application.test_client()
    other.environ_base.update(client.environ_base)
    assert Staff(other, svc).login(desk).status_code == 302
    assert other.get("/panel/today").status_code == 200

    refused = change(client, "not my password", NEW)
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "The current password is wrong." in refused.get_data(as_text=True)  # type: ignore[attr-defined]
    assert change(client, PASSWORD, NEW, confirm=NEW + "x").status_code == 400  # type: ignore[attr-defined]
    assert change(client, PASSWORD, "short").status_code == 400  # type: ignore[attr-defined]
    assert change(client, PASSWORD, PASSWORD).status_code == 400  # type: ignore[attr-defined]
    assert other.get("/panel/today").status_code == 200

    answer = change(client, PASSWORD, NEW)
    assert answer.status_code == 302  # type: ignore[attr-defined]
    assert client.get("/panel/today").status_code == 200  # this browser stays signed in
    assert other.get("/panel/today").status_code == 302  # the other one is signed out
    assert Staff(other, svc).login(desk).status_code == 401
    assert Staff(other, svc).login(desk, password=NEW).status_code == 302
    with svc.db.transaction() as session:
        actions = [e.action for e in session.query(AuditEntry).order_by(AuditEntry.id)]
    assert actions.count("staff.password.change") == 1
    assert actions.count("staff.password.failed") == 1


def test_guessing_the_current_password_ends_the_session(client: FlaskClient, staff: Staff) -> None:
    staff.sign_in_as("front_desk")
    for _ in range(accounts.MAX_FAILURES - 1):
        assert change(client, "a wrong guess!", NEW).status_code == 400  # type: ignore[attr-defined]
    assert client.get("/panel/today").status_code == 200
    token = csrf_token(client.get("/panel/password").get_data(as_text=True))
    data = {"csrf_token": token, "current": "a wrong guess!", "new": NEW, "confirm": NEW}
    assert client.post("/panel/password", data=data).status_code == 400
    assert client.get("/panel/today").status_code == 302


def test_admin_reset_gives_a_temporary_password_and_a_new_authenticator(
    client: FlaskClient, staff: Staff, svc: Service
) -> None:
    manager = staff.sign_in_as("manager")
    captured = client.get_cookie("lethe_panel", path="/panel")
    assert captured is not None
    client.delete_cookie("lethe_panel", domain="localhost", path="/panel")
    staff.sign_in_as("admin")
    with svc.db.transaction() as session:
        manager_id = session.query(StaffAccount).filter_by(username=manager.username).one().id
    token = csrf_token(client.get("/panel/staff").get_data(as_text=True))
    page = client.post(f"/panel/staff/{manager_id}/reset-password", data={"csrf_token": token})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    temporary = re.search(r'id="temporary-password">([^<]+)<', text)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', text)
    assert temporary is not None
    assert secret is not None
    assert secret.group(1) != manager.secret

    browser = client.application.test_client()
    browser.environ_base.update(client.environ_base)
    browser.set_cookie("lethe_panel", captured.value, domain="localhost", path="/panel")
    assert browser.get("/panel/today").status_code == 302  # the reset ended the manager's session
    desk = Staff(browser, svc)
    assert desk.login(manager).status_code == 401  # old password, old authenticator
    renewed = Account(manager.username, "manager", secret.group(1))
    assert desk.login(renewed).status_code == 401  # new authenticator, old password
    assert desk.login(renewed, password=temporary.group(1)).status_code == 302
    # The temporary password opens only the password page.
    for path in ("/panel/today", "/panel/kiosks", "/panel/audit"):
        answer = browser.get(path)
        assert (answer.status_code, answer.headers["Location"]) == (302, "/panel/password"), path
    page = browser.get("/panel/password").get_data(as_text=True)
    assert "An administrator reset your password." in page
    assert change(browser, temporary.group(1), NEW).status_code == 302  # type: ignore[attr-defined]
    assert browser.get("/panel/kiosks").status_code == 200
    with svc.db.transaction() as session:
        account = session.query(StaffAccount).filter_by(username=manager.username).one()
        assert account.must_change_password is False
        entry = session.query(AuditEntry).filter_by(action="staff.password.reset").one()
        assert entry.subject == account.id
        assert temporary.group(1) not in entry.details
