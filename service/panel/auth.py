"""Signing in and out, changing one's own password, and the panel's language."""

from __future__ import annotations

from flask import Response, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from service.errors import LetheError
from service.panel import accounts
from service.panel.accounts import FRONT_DESK, LoginRefused
from service.panel.blueprint import bp
from service.panel.forms import LoginForm, PasswordForm
from service.panel.i18n import LANGUAGES, gettext
from service.panel.security import (
    current,
    insecure_transport,
    insecure_transport_message,
    requires,
    safe_next,
    start_session,
)
from service.web.context import service

DEVICE_COOKIE = "lethe_device"
DEVICE_COOKIE_DAYS = 365
DEVICE_COOKIE_ACCOUNTS = 16  # the most recent accounts one browser is remembered for


def _device_serializer() -> URLSafeSerializer:
    secret: str | bytes = current_app.secret_key or b""
    return URLSafeSerializer(secret, salt="lethe/v1 panel-device")


def known_devices() -> dict[str, str]:
    """The browser's device cookie: account id -> nonce, for the accounts that signed in from it (signed)."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return {}
    try:
        found = _device_serializer().loads(raw)
    except BadSignature:
        return {}
    if not isinstance(found, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in found.items()):
        return {}
    return found


def _remember_device(response: Response, devices: dict[str, str], account_id: str) -> None:
    devices.pop(account_id, None)
    devices[account_id] = accounts.new_device_nonce()
    kept = dict(list(devices.items())[-DEVICE_COOKIE_ACCOUNTS:])
    response.set_cookie(
        DEVICE_COOKIE,
        _device_serializer().dumps(kept),
        max_age=DEVICE_COOKIE_DAYS * 86400,
        path=url_for("panel.login"),
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Strict",
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """The sign-in form; posted, check the username, password and authenticator code and start a session.

    Every refusal is the same 401 page, whatever its cause (see :func:`accounts.authenticate`).
    """
    form = LoginForm()
    message = gettext("Your session ended after a period of inactivity.") if g.get("session_expired") else None
    status = 200
    insecure = insecure_transport()
    if insecure:
        message = insecure_transport_message()
    if form.validate_on_submit():
        svc = service()
        refused: LoginRefused | None = None
        devices = known_devices()
        with svc.db.transaction() as db:
            try:
                account = accounts.authenticate(
                    db,
                    svc.keyring,
                    username=form.username.data,
                    password=form.password.data,
                    code=form.code.data or "",
                    source=request.remote_addr or "unknown",
                    now=svc.now(),
                    devices=devices,
                )
            except LoginRefused as exc:
                refused = exc
            else:
                start_session(account)
                account_id = account.id
        if refused is None:
            answer: Response = redirect(safe_next(request.args.get("next")) or url_for("panel.today"))  # type: ignore[assignment]
            _remember_device(answer, devices, account_id)
            return answer
        message, status = gettext("Sign-in failed. Check your username, password and authenticator code."), 401
    elif request.method == "POST" and insecure:
        status = 400  # the CSRF token's session cookie never came back: say why, not "sign-in failed"
    elif request.method == "POST":
        message, status = gettext("Sign-in failed. Check your username, password and authenticator code."), 400
    return Response(render_template("panel/login.html", form=form, message=message), status=status)


@bp.post("/logout")
def logout() -> Response:
    """Sign out: end this account's sessions on the server (every device), then drop the cookie."""
    staff = g.get("staff")
    if staff is not None:
        with service().db.transaction() as db:
            account = accounts.get_account(db, staff.id)
            accounts.end_sessions(db, account, actor=f"staff:{account.username}", action="staff.logout")
    session.clear()
    return redirect(url_for("panel.login"))  # type: ignore[return-value]


@bp.route("/password", methods=["GET", "POST"])
@requires(FRONT_DESK)
def password() -> Response:
    """Change one's own password. Every other session of the account ends; this browser stays signed in."""
    form = PasswordForm()
    problem = None
    status = 200
    if form.validate_on_submit():
        svc = service()
        changed = False
        try:
            with svc.db.transaction() as db:
                account = accounts.get_account(db, current().id)
                changed = accounts.change_password(
                    db, account, current=form.current.data, new=form.new.data, now=svc.now()
                )
                if changed:
                    start_session(account)
        except LetheError as exc:
            problem, status = exc.detail, exc.status
        else:
            if changed:
                flash(gettext("Your password is changed. Every other session of your account has ended."))
                return redirect(url_for("panel.today"))  # type: ignore[return-value]
            problem, status = gettext("The current password is wrong."), 400
    elif request.method == "POST":
        problem, status = gettext("Check the highlighted fields."), 400
    page = render_template("panel/password.html", form=form, problem=problem)
    return Response(page, status=status)


@bp.post("/language")
def language() -> Response:
    chosen = request.form.get("language", "en")
    if chosen not in LANGUAGES:
        abort(400)
    staff = g.get("staff")
    if staff is not None:
        with service().db.transaction() as db:
            accounts.set_language(db, accounts.get_account(db, staff.id), chosen)
    session["lang"] = chosen
    return redirect(safe_next(request.form.get("next")) or url_for("panel.today"))  # type: ignore[return-value]
