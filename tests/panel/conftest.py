"""The app with the panel, a browser-like test client (HTTPS, cookies) and staff accounts to sign in as."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.panel.accounts import create_account
from service.web.context import Service
from tests.service.conftest import Actions

PASSWORD = "correct horse battery"


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A client that talks HTTPS (so the Secure session cookie comes back, as in a browser)."""
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    client.environ_base["HTTP_HOST"] = "localhost"
    return client


@pytest.fixture
def actions(client: FlaskClient, svc: Service) -> Actions:
    return Actions(client, svc)


@dataclass
class Account:
    username: str
    role: str
    secret: str | None

    def code(self) -> str:
        return pyotp.TOTP(self.secret).now() if self.secret else ""


class Staff:
    """Create staff accounts and sign in as them, through the real login form."""

    def __init__(self, client: FlaskClient, svc: Service) -> None:
        self.client = client
        self.svc = svc

    def create(self, role: str, username: str | None = None, *, totp: bool | None = None) -> Account:
        username = username or role.replace("_", "-")
        with self.svc.db.transaction() as session:
            created = create_account(
                session,
                username=username,
                display_name=username.title(),
                role=role,
                password=PASSWORD,
                actor="test",
                keyring=self.svc.keyring,
                with_totp=totp,
            )
        return Account(username, role, created.totp_secret)

    def login_page_token(self) -> str:
        page = self.client.get("/panel/login").get_data(as_text=True)
        return csrf_token(page)

    def login(self, account: Account, *, password: str = PASSWORD, code: str | None = None) -> object:
        token = self.login_page_token()
        return self.client.post(
            "/panel/login",
            data={
                "csrf_token": token,
                "username": account.username,
                "password": password,
                "code": account.code() if code is None else code,
            },
        )

    def sign_in_as(self, role: str) -> Account:
        account = self.create(role)
        answer = self.login(account)
        assert answer.status_code == 302, answer.get_data(as_text=True)  # type: ignore[attr-defined]
        return account


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture
def staff(client: FlaskClient, svc: Service) -> Staff:
    return Staff(client, svc)
