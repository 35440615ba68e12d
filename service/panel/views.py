"""The panel's pages. Each view names the least role it needs (``requires``); see ``docs/panel.md``."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, abort, flash, g, redirect, render_template, request, session, url_for
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from service import property as prop
from service.checkin import kiosks as kiosk_service
from service.checkin import lockout, overrides
from service.checkin.kiosks import create_enrolment_code
from service.errors import LetheError
from service.panel import accounts, queries, receipts
from service.panel.accounts import ADMIN, FRONT_DESK, MANAGER, ROLES, LoginRefused
from service.panel.blueprint import bp
from service.panel.forms import (
    ActionForm,
    AuditForm,
    ConsentForm,
    EnrolmentForm,
    GeneralForm,
    LivenessForm,
    LoginForm,
    ReasonForm,
    RetentionForm,
    StaffForm,
)
from service.panel.i18n import LANGUAGES, current_language, gettext
from service.panel.security import add_headers, current, load_staff, protect, requires, safe_next, start_session
from service.stays import datasubject, forget, reservations
from service.storage.tables import EnrolmentCode, Kiosk, StaffAccount, Stay
from service.web.context import service

log = logging.getLogger(__name__)
POLL_SECONDS = 5

bp.before_request(load_staff)
bp.before_request(protect)
bp.after_request(add_headers)


def _zone() -> ZoneInfo:
    zone: ZoneInfo | None = g.get("zone")
    if zone is None:
        with service().db.transaction() as db:
            zone = queries.property_zone(db)
        g.zone = zone
    return zone


def local(moment: dt.datetime | None, with_date: bool = True) -> str:
    if moment is None:
        return "—"
    shown = moment.astimezone(_zone())
    return shown.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    if request.blueprint != "panel":
        return {}
    return {
        "_": gettext,
        "local": local,
        "staff": g.get("staff"),
        "language": current_language(),
        "languages": LANGUAGES,
        "roles": ROLES,
        "MANAGER": MANAGER,
        "ADMIN": ADMIN,
        "action_form": ActionForm(),
    }


def _now() -> dt.datetime:
    return service().now()


def _actor() -> str:
    return f"staff:{current().username}"


# ---- sign in and out -------------------------------------------------------------------------


# One method per route: each endpoint is one operation (the OpenAPI document names them by endpoint).
@bp.get("/login")
def login() -> str | Response:
    """The sign-in form."""
    return login_submit()


@bp.post("/login")
def login_submit() -> str | Response:
    """Check the username, password and authenticator code; start a session."""
    form = LoginForm()
    message = gettext("Your session ended after a period of inactivity.") if g.get("session_expired") else None
    status = 200
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


# ---- front desk ----------------------------------------------------------------------------------


@bp.get("/")
@requires(FRONT_DESK)
def index() -> Response:
    return redirect(url_for("panel.today"))  # type: ignore[return-value]


@bp.get("/today")
@requires(FRONT_DESK)
def today() -> str:
    with service().db.transaction() as db:
        day = queries.board(db, _now())
        found = queries.search_stays(db, request.args["q"]) if request.args.get("q", "").strip() else None
        found_states = queries.face_states(db, found, _now()) if found else {}
    return render_template(
        "panel/today.html", board=day, found=found, found_states=found_states, poll=POLL_SECONDS, updated=_now()
    )


@bp.get("/today/board")
@requires(FRONT_DESK)
def today_board() -> str:
    """The board alone, for the page's script to refresh every few seconds."""
    with service().db.transaction() as db:
        day = queries.board(db, _now())
    return render_template("panel/_board.html", board=day, updated=_now())


@bp.get("/stays/<stay_id>")
@requires(FRONT_DESK)
def stay(stay_id: str) -> str:
    return _render_stay(stay_id)


def _render_stay(stay_id: str, **extra: Any) -> str:
    with service().db.transaction() as db:
        found = db.get(Stay, stay_id)
        if found is None:
            abort(404)
        state = queries.face_states(db, [found], _now())[found.id]
        attempts = queries.stay_attempts(db, found.id)
        kiosk_names = {k.id: k.name for k in db.scalars(select(Kiosk))}
        history = queries.stay_history(db, found.id)
        consents = queries.stay_consents(db, found.id)
        notice = prop.load(db, prop.ConsentNotice)
    return render_template(
        "panel/stay.html",
        stay=found,
        state=state,
        attempts=attempts,
        kiosk_names=kiosk_names,
        history=history,
        consents=consents,
        notice=notice,
        active=found.status in reservations.ACTIVE,
        reason_form=ReasonForm(formdata=None),
        **extra,
    )


@bp.post("/stays/<stay_id>/checkout")
@requires(FRONT_DESK)
def checkout(stay_id: str) -> str:
    """Check the guest out: templates and data key deleted now; the page shows the signed receipt to print."""
    svc = service()
    with svc.db.transaction() as db:
        found = db.get(Stay, stay_id)
        if found is None:
            abort(404)
        receipt = forget.checkout(db, svc.keyring, found, actor=_actor(), now=svc.now())
    svc.db.checkpoint()  # as the kiosk's and the PMS's checkouts: no copy left in SQLite's WAL, and synced to disk
    return render_template(
        "panel/receipt.html",
        stay=found,
        receipt=receipt,
        deleted_at=dt.datetime.fromisoformat(str(receipt["claims"]["deleted_at"])),
        receipt_json=json.dumps(receipt, indent=2, ensure_ascii=False),
        qr=Markup(receipts.qr_svg(receipt)),  # noqa: S704 (SVG built by the qrcode library from our own JSON)
    )


def _stay_or_404(db: Any, stay_id: str) -> Stay:
    found = db.get(Stay, stay_id)
    if found is None:
        abort(404)
    return found  # type: ignore[no-any-return]


def _reason_or_page(stay_id: str, action: str) -> str | Response | None:
    """The written reason from the form, or the stay page again (HTTP 400) naming the problem."""
    form = ReasonForm()
    if form.validate_on_submit():
        return str(form.reason.data).strip()
    page = _render_stay(stay_id, failed_action=action, reason_problem=gettext("Write a reason of 5 to 200 characters."))
    return Response(page, status=400)


@bp.post("/stays/<stay_id>/override")
@requires(FRONT_DESK)
def override(stay_id: str) -> str | Response:
    """Check the guest in by hand after a person checked their ID (clears a lock); needs a written reason."""
    reason = _reason_or_page(stay_id, "override")
    if isinstance(reason, Response):
        return reason
    with service().db.transaction() as db:
        overrides.override_stay(db, _stay_or_404(db, stay_id), actor=_actor(), reason=str(reason), now=_now())
    flash(gettext("Checked in by staff override."))
    return redirect(url_for("panel.stay", stay_id=stay_id))  # type: ignore[return-value]


@bp.post("/stays/<stay_id>/unlock")
@requires(FRONT_DESK)
def unlock(stay_id: str) -> str | Response:
    """Let the guest try face check-in again after the lockout; needs a written reason."""
    reason = _reason_or_page(stay_id, "unlock")
    if isinstance(reason, Response):
        return reason
    with service().db.transaction() as db:
        lockout.unlock_stay(db, _stay_or_404(db, stay_id), actor=_actor(), reason=str(reason), now=_now())
    flash(gettext("Face check-in unlocked."))
    return redirect(url_for("panel.stay", stay_id=stay_id))  # type: ignore[return-value]


@bp.post("/stays/<stay_id>/export")
@requires(FRONT_DESK)
def export(stay_id: str) -> str | Response:
    """Everything held about the stay as a JSON download (a data-subject access request); audited."""
    reason = _reason_or_page(stay_id, "export")
    if isinstance(reason, Response):
        return reason
    with service().db.transaction() as db:
        found = _stay_or_404(db, stay_id)
        document = datasubject.export_stay(db, found, actor=_actor(), reason=str(reason), now=_now())
        reference = found.reference
    return Response(
        json.dumps(document, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="lethe-export-{reference}.json"'},
    )


@bp.post("/stays/<stay_id>/erase")
@requires(MANAGER)
def erase(stay_id: str) -> str | Response:
    """Erase the stay and everything about it (a data-subject erasure request); needs a reason and confirmation."""
    reason = _reason_or_page(stay_id, "erase")
    if isinstance(reason, Response):
        return reason
    if request.form.get("confirm") != "yes":
        problem = gettext("Tick the box to confirm the erasure.")
        return Response(_render_stay(stay_id, failed_action="erase", reason_problem=problem), status=400)
    with service().db.transaction() as db:
        found = _stay_or_404(db, stay_id)
        name, reference = found.guest_name, found.reference
        erased = datasubject.erase_stay(db, found, actor=_actor(), reason=str(reason), now=_now())
    service().db.checkpoint()
    return render_template("panel/erased.html", name=name, reference=reference, erased=erased)


# ---- manager ------------------------------------------------------------------------------------


@bp.get("/kiosks")
@requires(MANAGER)
def kiosks() -> Any:
    return _render_kiosks(EnrolmentForm())


def _render_kiosks(form: EnrolmentForm, issued: Any = None, status: int = 200, problem: str | None = None) -> Any:
    with service().db.transaction() as db:
        devices = kiosk_service.list_kiosks(db)
        pending = list(
            db.scalars(
                select(EnrolmentCode)
                .where(EnrolmentCode.used_at.is_(None), EnrolmentCode.expires_at > _now())
                .order_by(EnrolmentCode.expires_at)
            )
        )
    page = render_template(
        "panel/kiosks.html", devices=devices, pending=pending, form=form, issued=issued, problem=problem
    )
    return page if status == 200 else Response(page, status=status)


@bp.post("/kiosks/code")
@requires(MANAGER)
def kiosk_code() -> Any:
    """Create a one-time enrolment code; it is shown on this response only."""
    form = EnrolmentForm()
    if not form.validate_on_submit():
        return _render_kiosks(form, status=400)
    svc = service()
    with svc.db.transaction() as db:
        issued = create_enrolment_code(
            db, kiosk_name=form.name.data.strip(), ttl_s=svc.settings.enrolment_code_ttl_s, actor=_actor(), now=_now()
        )
    return _render_kiosks(EnrolmentForm(formdata=None), issued=issued)


@bp.post("/kiosks/<kiosk_id>/<operation>")
@requires(MANAGER)
def kiosk_change(kiosk_id: str, operation: str) -> Any:
    """Suspend, resume or revoke a kiosk, with a written reason."""
    change = {
        "suspend": kiosk_service.suspend_kiosk,
        "resume": kiosk_service.resume_kiosk,
        "revoke": kiosk_service.revoke_kiosk,
    }.get(operation)
    if change is None:
        abort(404)
    form = ReasonForm()
    if not form.validate_on_submit():
        problem = gettext("Write a reason of 5 to 200 characters.")
        return _render_kiosks(EnrolmentForm(formdata=None), status=400, problem=problem)
    with service().db.transaction() as db:
        change(db, kiosk_id, actor=_actor(), reason=str(form.reason.data).strip())
    flash(gettext("Kiosk updated."))
    return redirect(url_for("panel.kiosks"))


@bp.get("/audit")
@requires(MANAGER)
def audit_log() -> str:
    form = AuditForm(request.args)
    entries = []
    if form.validate():
        query = queries.AuditQuery(
            stay=form.stay.data or "",
            actor=form.actor.data or "",
            action=form.action.data or "",
            since=form.since.data,
            until=form.until.data,
        )
        with service().db.transaction() as db:
            entries = queries.audit_search(db, query, queries.property_zone(db))
    return render_template("panel/audit.html", form=form, entries=entries, report=None)


@bp.post("/audit/verify")
@requires(MANAGER)
def audit_verify() -> str:
    from service.storage import audit

    with service().db.transaction() as db:
        report = audit.verify_chain(db)
    return render_template("panel/audit.html", form=AuditForm(formdata=None), entries=[], report=report)


@bp.get("/settings")
@requires(MANAGER)
def settings() -> Any:
    """The property's settings, one form per section."""
    return settings_save()


@bp.post("/settings")
@requires(MANAGER)
def settings_save() -> Any:
    """Validate and store one section of the settings (audited)."""
    svc = service()
    with svc.db.transaction() as db:
        general = prop.load(db, prop.General)
        retention = prop.load(db, prop.Retention)
        liveness = prop.load(db, prop.Liveness)
        consent = prop.load(db, prop.ConsentNotice)
    forms: dict[str, Any] = {
        "general": GeneralForm(prefix="general", data=general.model_dump()),
        "retention": RetentionForm(prefix="retention", data=retention.model_dump()),
        "liveness": LivenessForm(
            prefix="liveness",
            data={
                "require_passive": liveness.require_passive,
                "passive_min_score": str(liveness.passive_min_score),
                "require_challenge": liveness.require_challenge,
                "weight_none": liveness.challenge_mix.get("none", 0),
                "weight_blink": liveness.challenge_mix.get("blink", 0),
                "weight_turn_left": liveness.challenge_mix.get("turn-left", 0),
                "weight_turn_right": liveness.challenge_mix.get("turn-right", 0),
            },
        ),
        "consent": ConsentForm(
            prefix="consent", data={"text_en": consent.text.get("en", ""), "text_zh": consent.text.get("zh-Hans", "")}
        ),
    }
    problem: str | None = None
    status = 200
    section = request.form.get("section") if request.method == "POST" else None
    if section is not None:
        form = forms.get(section)
        if form is None:
            abort(400)
        if form.validate():
            try:
                value = _section_value(section, form, consent)
            except ValidationError as exc:
                problem = "; ".join(str(e["msg"]) for e in exc.errors())
            else:
                with svc.db.transaction() as db:
                    prop.save(db, value, actor=_actor())
                flash(gettext("Settings saved."))
                return redirect(url_for("panel.settings"))
        else:
            problem = gettext("Check the highlighted fields.")
        status = 400
    page = render_template(
        "panel/settings.html", forms=forms, problem=problem, section=section, consent_version=consent.version
    )
    return Response(page, status=status)


def _section_value(section: str, form: Any, consent: prop.ConsentNotice) -> Any:
    data = {k: v for k, v in form.data.items() if k != "csrf_token"}
    if section == "general":
        return prop.General.model_validate(data)
    if section == "retention":
        return prop.Retention.model_validate(data)
    if section == "liveness":
        return prop.Liveness.model_validate(
            {
                "require_passive": data["require_passive"],
                "passive_min_score": float(data["passive_min_score"]),
                "require_challenge": data["require_challenge"],
                "challenge_mix": {
                    "none": data["weight_none"],
                    "blink": data["weight_blink"],
                    "turn-left": data["weight_turn_left"],
                    "turn-right": data["weight_turn_right"],
                },
            }
        )
    text = {"en": data["text_en"].strip(), "zh-Hans": data["text_zh"].strip()}
    changed = text != dict(consent.text)
    return prop.ConsentNotice(version=consent.version + (1 if changed else 0), text=text)  # type: ignore[arg-type]


# ---- admin ----------------------------------------------------------------------------------------


@bp.get("/staff")
@requires(ADMIN)
def staff_list() -> Any:
    return _render_staff(StaffForm(formdata=None))


def _render_staff(form: StaffForm, created: Any = None, problem: str | None = None, status: int = 200) -> Any:
    with service().db.transaction() as db:
        people = list(db.scalars(select(StaffAccount).order_by(StaffAccount.username)))
    page = render_template("panel/staff.html", people=people, form=form, created=created, problem=problem)
    return page if status == 200 else Response(page, status=status)


@bp.post("/staff")
@requires(ADMIN)
def staff_create() -> Any:
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
                actor=_actor(),
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
    if operation not in {"disable", "enable", "reset-2fa"}:
        abort(404)
    me = current()
    shown = None
    with service().db.transaction() as db:
        account = db.get(StaffAccount, account_id)
        if account is None:
            abort(404)
        if account.id == me.id and operation == "disable":
            problem = gettext("You cannot disable your own account.")
            return _render_staff(StaffForm(formdata=None), problem=problem, status=409)
        if operation == "disable":
            accounts.disable(db, account, actor=_actor(), now=_now())
        elif operation == "enable":
            accounts.enable(db, account, actor=_actor())
        else:
            secret = accounts.reset_totp(db, service().keyring, account, actor=_actor())
            shown = {"username": account.username, "secret": secret, "uri": accounts.totp_uri(account, secret)}
    if shown is None:
        return redirect(url_for("panel.staff_list"))
    return _render_staff(StaffForm(formdata=None), created=shown)


# ---- errors: HTML pages, never JSON, under /panel ------------------------------------------------


@bp.get("/<path:_rest>")
def unknown(_rest: str) -> Response:
    """Any other path under /panel: an HTML 404 page (not the API's problem+json)."""
    abort(404)


@bp.post("/<path:_rest>")
def unknown_post(_rest: str) -> Response:
    """Any other path under /panel: an HTML 404 page."""
    abort(404)


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> Response:
    status = err.code or 500
    if status == 401:
        return redirect(url_for("panel.login"))  # type: ignore[return-value]
    return _error_page(status)


@bp.errorhandler(LetheError)
def _domain_error(err: LetheError) -> Response:
    return _error_page(err.status, err.detail)


@bp.errorhandler(OperationalError)
def _database_unavailable(err: OperationalError) -> Response:
    log.warning("panel: database unavailable: %s", type(err.orig).__name__)
    return _error_page(503)


@bp.errorhandler(Exception)
def _unexpected(err: Exception) -> Response:
    log.error("panel: unhandled %s", type(err).__name__, exc_info=err)
    return _error_page(500)


TITLES = {
    400: "The request could not be understood",
    403: "You do not have access to this page",
    404: "Page not found",
    405: "That action is not allowed here",
    409: "That cannot be done in the stay's current state",
    413: "The request is too large",
    423: "Face check-in is locked for this stay",
    429: "Too many requests",
    500: "Something went wrong",
    503: "The service is busy; try again shortly",
}


def _error_page(status: int, detail: str | None = None) -> Response:
    title = gettext(TITLES.get(status, "Something went wrong"))
    page = render_template("panel/error.html", status=status, title=title, detail=detail)
    return add_headers(Response(page, status=status))
