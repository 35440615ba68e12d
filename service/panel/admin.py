"""Administering the panel: staff accounts (create, disable, enable, reset two-factor, reset the password with
two-factor re-enrolment, sign out everywhere) and webhook endpoints."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, redirect, render_template, request, url_for

from service import webhooks
from service.errors import LetheError
from service.panel import accounts, queries
from service.panel.accounts import ADMIN
from service.panel.blueprint import actor, bp, now
from service.panel.forms import StaffForm, WebhookForm
from service.panel.i18n import gettext
from service.panel.security import current, requires
from service.storage.tables import StaffAccount
from service.web.context import service


def _render_staff(form: StaffForm, created: Any = None, problem: str | None = None, status: int = 200) -> Any:
    with service().db.transaction() as db:
        people = queries.staff_accounts(db)
    page = render_template("panel/staff.html", people=people, form=form, created=created, problem=problem)
    return page if status == 200 else Response(page, status=status)


@bp.route("/staff", methods=["GET", "POST"])
@requires(ADMIN)
def staff() -> Any:
    """The staff accounts; posted, a new account (its TOTP secret shown on this answer only)."""
    if request.method == "GET":
        return _render_staff(StaffForm(formdata=None))
    form = StaffForm()
    if not form.validate_on_submit():
        return _render_staff(form, problem=gettext("Check the highlighted fields."), status=400)
    try:
        with service().db.transaction() as db:
            created = accounts.create_account(
                db,
                username=form.username.data,
                display_name=form.display_name.data,
                role=form.role.data,
                password=form.password.data,
                actor=actor(),
                keyring=service().keyring,
                with_totp=bool(form.totp.data),
            )
            shown = {"username": created.account.username, "secret": created.totp_secret, "uri": created.totp_uri()}
    except LetheError as exc:
        return _render_staff(form, problem=exc.detail, status=exc.status)
    return _render_staff(StaffForm(formdata=None), created=shown)


@bp.post("/staff/<account_id>/<operation>")
@requires(ADMIN)
def staff_change(account_id: str, operation: str) -> Any:
    if operation not in {"disable", "enable", "reset-2fa", "reset-password", "sign-out"}:
        abort(404)
    me = current()
    if account_id == me.id and operation == "disable":  # refused before any transaction: no lock held or awaited
        problem = gettext("You cannot disable your own account.")
        return _render_staff(StaffForm(formdata=None), problem=problem, status=409)
    shown = None
    with service().db.transaction() as db:
        account = db.get(StaffAccount, account_id)
        if account is None:
            abort(404)
        if operation == "disable":
            accounts.disable(db, account, actor=actor(), now=now())
        elif operation == "enable":
            accounts.enable(db, account, actor=actor())
        elif operation == "sign-out":
            accounts.end_sessions(db, account, actor=actor())
        elif operation == "reset-password":
            reset = accounts.reset_password(db, service().keyring, account, actor=actor())
            shown = {
                "username": reset.username,
                "password": reset.password,
                "secret": reset.totp_secret,
                "uri": reset.totp_uri(),
            }
        else:
            secret = accounts.reset_totp(db, service().keyring, account, actor=actor())
            shown = {"username": account.username, "secret": secret, "uri": accounts.totp_uri(account, secret)}
    if shown is None:
        return redirect(url_for("panel.staff"))
    return _render_staff(StaffForm(formdata=None), created=shown)


def _render_webhooks(form: WebhookForm, created: Any = None, problem: str | None = None, status: int = 200) -> Any:
    with service().db.transaction() as db:
        endpoints = webhooks.list_endpoints(db)
    page = render_template("panel/webhooks.html", endpoints=endpoints, form=form, created=created, problem=problem)
    return page if status == 200 else Response(page, status=status)


@bp.route("/webhooks", methods=["GET", "POST"])
@requires(ADMIN)
def webhooks_page() -> Any:
    """Webhook endpoints with their last status; posted, a new endpoint (its secret shown on this answer only)."""
    if request.method == "GET":
        return _render_webhooks(WebhookForm(formdata=None))
    form = WebhookForm()
    if not form.validate_on_submit():
        return _render_webhooks(form, problem=gettext("Check the highlighted fields."), status=400)
    try:
        with service().db.transaction() as db:
            added = webhooks.add_endpoint(db, service().keyring, form.url.data, actor=actor())
    except LetheError as exc:
        return _render_webhooks(form, problem=exc.detail, status=exc.status)
    return _render_webhooks(
        WebhookForm(formdata=None), created={"id": added.id, "url": added.url, "secret": added.secret}
    )


@bp.post("/webhooks/<int:endpoint_id>/remove")
@requires(ADMIN)
def webhook_remove(endpoint_id: int) -> Any:
    with service().db.transaction() as db:
        try:
            webhooks.remove_endpoint(db, endpoint_id, actor=actor(), now=now())
        except LetheError:
            abort(404)
    return redirect(url_for("panel.webhooks_page"))
