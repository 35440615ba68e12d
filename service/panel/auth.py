"""Signing in and out, and the panel's language."""

from __future__ import annotations

from flask import Response, abort, g, redirect, render_template, request, session, url_for

from service.panel import accounts
from service.panel.accounts import LoginRefused
from service.panel.blueprint import bp
from service.panel.forms import LoginForm
from service.panel.i18n import LANGUAGES, gettext
from service.panel.security import insecure_transport, insecure_transport_message, safe_next, start_session
from service.web.context import service


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """The sign-in form; posted, check the username, password and authenticator code and start a session."""
    form = LoginForm()
    message = gettext("Your session ended after a period of inactivity.") if g.get("session_expired") else None
    status = 200
    insecure = insecure_transport()
    if insecure:
        message = insecure_transport_message()
    if form.validate_on_submit():
        svc = service()
        refused: LoginRefused | None = None
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
                )
            except LoginRefused as exc:
                refused = exc
            else:
                start_session(account)
        if refused is None:
            return redirect(safe_next(request.args.get("next")) or url_for("panel.today"))  # type: ignore[return-value]
        if refused.rate_limited:
            message, status = gettext("Too many failed sign-ins from this address. Wait 15 minutes."), 429
        else:
            message, status = gettext("Sign-in failed. Check your username, password and authenticator code."), 401
    elif request.method == "POST" and insecure:
        status = 400  # the CSRF token's session cookie never came back: say why, not "sign-in failed"
    elif request.method == "POST":
        message, status = gettext("Sign-in failed. Check your username, password and authenticator code."), 400
    return Response(render_template("panel/login.html", form=form, message=message), status=status)


@bp.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect(url_for("panel.login"))  # type: ignore[return-value]


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
