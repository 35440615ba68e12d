"""The panel's session, CSRF, role checks and security headers.

* The session is Flask's signed cookie, keyed by a secret kept in the instance
  folder; it holds the staff id, the account's session version, the time of
  sign-in and the time of the last request. A request is refused unless the
  version still matches the account's in the database: signing out, a
  password change or reset, a two-factor reset, disabling the account and an
  admin's "sign out everywhere" bump it, which ends every session of the
  account, so a cookie copied before any of these is worthless. A session also
  ends after the idle timeout (the Today page's automatic refreshes do not
  count as activity) and ``SESSION_LIFETIME`` after sign-in.
* Cookies are HttpOnly, SameSite=Strict and Secure (``LETHE_PANEL_SECURE_COOKIES``
  turns Secure off for plain-HTTP loopback tests only).
* Every POST under ``/panel`` must carry a valid Flask-WTF CSRF token; the JSON
  APIs (signed or bearer-authenticated, no cookies) are not affected.
* Every response gets a strict Content-Security-Policy (no inline script or
  style, nothing from other origins) and the usual hardening headers.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect

from service.panel.accounts import RANK, SESSION_LIFETIME
from service.panel.i18n import gettext
from service.settings import Settings
from service.storage.tables import StaffAccount
from service.web.context import EXTENSION, service

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
POLL_HEADER = "X-Lethe-Poll"  # sent by panel.js on its automatic refreshes
_NEXT = re.compile(r"/panel/[\x21-\x7e]*")  # a panel path: no scheme, no "//" host, no control characters
SECRET_FILE = "panel-secret.key"  # noqa: S105 (a file name, not a secret)
csrf = CSRFProtect()
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cache-Control": "no-store",
}


def init_app(app: Flask) -> None:
    settings = service_settings(app)
    if not app.secret_key:
        app.secret_key = _load_or_create_secret(Path(app.instance_path) / SECRET_FILE)
    app.config.update(
        SESSION_COOKIE_NAME="lethe_panel",
        SESSION_COOKIE_PATH="/panel",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.panel_secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=settings.panel_idle_timeout_s),
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=settings.panel_secure_cookies,
    )
    csrf.init_app(app)


def service_settings(app: Flask) -> Settings:
    found: Settings = app.extensions[EXTENSION].settings
    return found


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path inside the panel (no open redirect), else None.

    Printable ASCII only: a CR or LF in a ``Location`` header is refused by the
    server (it would split the header), and anything else non-ASCII is percent-encoded in links we make.
    """
    if target and _NEXT.fullmatch(target) and "\\" not in target:
        return target
    return None


def _load_or_create_secret(path: Path) -> bytes:
    """The session-signing key: 32 random bytes in a 0600 file, created once (race-safe across workers)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


@dataclass(frozen=True)
class Staff:
    """The signed-in staff member, as the views see them."""

    id: str
    username: str
    display_name: str
    role: str
    language: str
    must_change_password: bool = False

    def at_least(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


def load_staff() -> None:
    """Before each panel request: find the signed-in account, end idle or revoked sessions."""
    g.staff = None
    staff_id = session.get("staff")
    if not staff_id:
        return
    svc = service()
    now = svc.now().timestamp()
    idle = now - float(session.get("seen", 0)) > svc.settings.panel_idle_timeout_s
    if idle or now - float(session.get("since", 0)) > SESSION_LIFETIME.total_seconds():
        session.clear()
        g.session_expired = True
        return
    with svc.db.transaction() as db:
        account = db.get(StaffAccount, staff_id)
        if account is None or account.disabled_at is not None or account.session_version != session.get("v"):
            session.clear()
            return
        g.staff = Staff(
            account.id,
            account.username,
            account.display_name,
            account.role,
            account.language,
            account.must_change_password,
        )
    if request.headers.get(POLL_HEADER) != "1":
        session["seen"] = now  # automatic refreshes do not count as activity


def start_session(account: StaffAccount) -> None:
    session.clear()
    session.permanent = True
    session["staff"] = account.id
    session["v"] = account.session_version
    session["since"] = session["seen"] = service().now().timestamp()


def current() -> Staff:
    staff: Staff | None = g.get("staff")
    if staff is None:
        abort(401)
    return staff


def requires(role: str) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Decorate a view: anonymous visitors go to the login page, a lower role gets a 403 page, and an account
    signed in with an admin's temporary password goes to the password-change page."""

    def decorate(view: Callable[P, R]) -> Callable[P, R | Response]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            staff: Staff | None = g.get("staff")
            if staff is None:
                target = request.full_path if request.method == "GET" else None
                return redirect(url_for("panel.login", next=target))  # type: ignore[return-value]
            if staff.must_change_password and request.endpoint != "panel.password":
                return redirect(url_for("panel.password"))  # type: ignore[return-value]
            if not staff.at_least(role):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]
        return wrapped

    return decorate


# Browsers keep Secure cookies on plain-HTTP loopback (a secure context), nowhere else.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
INSECURE_TRANSPORT = (
    "This panel was reached over plain HTTP (%(host)s), but its sign-in cookie is Secure (HTTPS only), so the "
    "browser drops it and sign-in cannot work. Open the panel over HTTPS (docs/deploy.md). Behind an HTTPS "
    "proxy, set LETHE_PROXY_HOPS=1; for a plain-HTTP test only, LETHE_PANEL_SECURE_COOKIES=false."
)


def insecure_transport() -> bool:
    """Whether this request came over plain HTTP to a host name where the browser will not keep the panel's
    Secure cookies (so its session, and with it every form's CSRF token, is lost)."""
    if request.is_secure or not service().settings.panel_secure_cookies:
        return False
    name = urlsplit(f"//{request.host}").hostname or ""
    return name not in LOOPBACK_HOSTS and not name.endswith(".localhost")


def insecure_transport_message() -> str:
    """Log why sign-in cannot work here, and return the page's explanation (in the panel's language)."""
    log.warning(
        "panel reached over plain HTTP at %s: the browser drops its Secure cookies, so sign-in fails; serve it "
        "over HTTPS (behind an HTTPS proxy: LETHE_PROXY_HOPS=1)",
        request.host,
    )
    return gettext(INSECURE_TRANSPORT, host=f"http://{request.host}")


def protect() -> None:
    if request.method == "POST":
        csrf.protect()


def add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
