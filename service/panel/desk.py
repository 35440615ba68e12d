"""The front desk: the day's board, search, and a stay's page with its actions (checkout or cancellation, each
confirmed; the receipt again; override, unlock, export, erase)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from markupsafe import Markup

from protocol import DeletionClaims
from service.checkin import lockout, overrides
from service.errors import StayNotActive
from service.panel import audit_text, queries, receipts
from service.panel.accounts import FRONT_DESK, MANAGER
from service.panel.blueprint import actor, bp, now
from service.panel.forms import ReasonForm
from service.panel.i18n import gettext
from service.panel.security import requires
from service.stays import datasubject, forget
from service.stays.reservations import ACTIVE
from service.storage.tables import Stay
from service.web.context import service
from service.web.receipt import receipt_page_url

POLL_SECONDS = 5


@bp.get("/")
@requires(FRONT_DESK)
def index() -> Response:
    return redirect(url_for("panel.today"))  # type: ignore[return-value]


@bp.get("/today")
@requires(FRONT_DESK)
def today() -> str:
    with service().db.transaction() as db:
        day = queries.board(db, now())
        found = queries.search_stays(db, request.args["q"]) if request.args.get("q", "").strip() else None
        found_states = queries.face_states(db, found, now()) if found else {}
    return render_template(
        "panel/today.html", board=day, found=found, found_states=found_states, poll=POLL_SECONDS, updated=now()
    )


@bp.get("/today/board")
@requires(FRONT_DESK)
def today_board() -> str:
    """The board alone, for the page's script to refresh every few seconds."""
    with service().db.transaction() as db:
        day = queries.board(db, now())
    return render_template("panel/_board.html", board=day, updated=now())


@bp.get("/stays/<stay_id>")
@requires(FRONT_DESK)
def stay(stay_id: str) -> str:
    return _stay_page(stay_id)


def _stay_page(stay_id: str, **extra: Any) -> str:
    with service().db.transaction() as db:
        page = queries.stay_page(db, stay_id, now())
    if page is None:
        abort(404)
    return render_template(
        "panel/stay.html",
        **vars(page),
        active=page.stay.status in ACTIVE,
        has_receipt=page.stay.status == "checked_out" and any(e.action == "stay.checkout" for e in page.history),
        history_text=[
            (e, audit_text.describe(e, kiosk_names=page.kiosk_names, stay_references={})) for e in page.history
        ],
        reason_form=ReasonForm(formdata=None),
        **extra,
    )


def _stay(db: Any, stay_id: str) -> Stay:
    found = queries.stay(db, stay_id)
    if found is None:
        abort(404)
    return found


@bp.post("/stays/<stay_id>/checkout")
@requires(FRONT_DESK)
def checkout(stay_id: str) -> str:
    """Check the guest out after a confirmation step: templates and data key deleted; the signed receipt to print.

    A stay that never checked in is not checked out: that is a cancellation (:func:`cancel`).
    """
    svc = service()
    with svc.db.transaction() as db:
        found = _stay(db, stay_id)
        if found.status == "reserved":
            raise StayNotActive("this guest never checked in: cancel the reservation instead of checking it out")
        if request.form.get("confirm") != "yes":
            return _confirm_page(found, "checkout")
        receipt = forget.checkout(db, svc.keyring, found, actor=actor(), now=svc.now())
    svc.db.erase_copies()  # as the kiosk's and the PMS's checkouts: no copy left in SQLite's files
    return _receipt_page(found, receipt, done=True)


@bp.post("/stays/<stay_id>/cancel")
@requires(FRONT_DESK)
def cancel(stay_id: str) -> str | Response:
    """Cancel a reservation that never checked in, after a confirmation step; its data key is deleted at once."""
    svc = service()
    with svc.db.transaction() as db:
        found = _stay(db, stay_id)
        if request.form.get("confirm") != "yes":
            if found.status != "reserved":
                raise StayNotActive("only a reservation that is not checked in can be cancelled")
            return _confirm_page(found, "cancel")
        forget.cancel_reservation(db, found, actor=actor(), now=svc.now())
    svc.db.erase_copies()
    flash(gettext("Reservation cancelled; its data key is deleted."))
    return redirect(url_for("panel.stay", stay_id=stay_id))  # type: ignore[return-value]


def _confirm_page(stay: Stay, action: str) -> str:
    """The confirmation step of a destructive action: what it does, a confirm button and a way back."""
    return render_template("panel/confirm.html", stay=stay, action=action)


@bp.get("/stays/<stay_id>/receipt")
@requires(FRONT_DESK)
def receipt(stay_id: str) -> str:
    """The deletion receipt of a checked-out stay again, to print, download or scan."""
    return _receipt_page(*_stored_receipt(stay_id), done=False)


@bp.get("/stays/<stay_id>/receipt.json")
@requires(FRONT_DESK)
def receipt_download(stay_id: str) -> Response:
    """The deletion receipt as a file, in the form ``lethe receipt verify`` reads."""
    found, document = _stored_receipt(stay_id)
    return Response(
        json.dumps({"receipt": document}, indent=2) + "\n",
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="lethe-receipt-{found.reference}.json"'},
    )


def _stored_receipt(stay_id: str) -> tuple[Stay, dict[str, Any]]:
    svc = service()
    with svc.db.transaction() as db:
        found = _stay(db, stay_id)
        document = forget.checkout_receipt(db, svc.keyring, found)
    if document is None:
        abort(404)
    return found, document


def _receipt_page(stay: Stay, receipt: dict[str, Any], *, done: bool) -> str:
    link = receipts.receipt_link(receipt_page_url(), receipt)
    return render_template(
        "panel/receipt.html",
        stay=stay,
        done=done,
        receipt=receipt,
        deleted_at=DeletionClaims.from_json(receipt["claims"]).deleted_at,
        receipt_json=json.dumps(receipt, indent=2, ensure_ascii=False),
        receipt_link=link,
        qr=Markup(receipts.qr_svg(link)),  # noqa: S704 (SVG built by segno from our own link)
    )


def _reason_or_page(stay_id: str, action: str) -> str | Response:
    """The written reason from the form, or the stay page again (HTTP 400) naming the problem."""
    form = ReasonForm()
    if form.validate_on_submit():
        return str(form.reason.data).strip()
    page = _stay_page(stay_id, failed_action=action, reason_problem=gettext("Write a reason of 5 to 200 characters."))
    return Response(page, status=400)


@bp.post("/stays/<stay_id>/override")
@requires(FRONT_DESK)
def override(stay_id: str) -> Response:
    """Check the guest in by hand after a person checked their ID (clears a lock); needs a written reason."""
    reason = _reason_or_page(stay_id, "override")
    if isinstance(reason, Response):
        return reason
    with service().db.transaction() as db:
        overrides.override_stay(db, _stay(db, stay_id), actor=actor(), reason=reason, now=now())
    flash(gettext("Checked in by staff override."))
    return redirect(url_for("panel.stay", stay_id=stay_id))  # type: ignore[return-value]


@bp.post("/stays/<stay_id>/unlock")
@requires(FRONT_DESK)
def unlock(stay_id: str) -> Response:
    """Let the guest try face check-in again after the lockout; needs a written reason."""
    reason = _reason_or_page(stay_id, "unlock")
    if isinstance(reason, Response):
        return reason
    with service().db.transaction() as db:
        lockout.unlock_stay(db, _stay(db, stay_id), actor=actor(), reason=reason, now=now())
    flash(gettext("Face check-in unlocked."))
    return redirect(url_for("panel.stay", stay_id=stay_id))  # type: ignore[return-value]


@bp.post("/stays/<stay_id>/export")
@requires(FRONT_DESK)
def export(stay_id: str) -> Response:
    """Everything held about the stay as a JSON download (a data-subject access request); audited."""
    reason = _reason_or_page(stay_id, "export")
    if isinstance(reason, Response):
        return reason
    with service().db.transaction() as db:
        found = _stay(db, stay_id)
        document = datasubject.export_stay(db, found, actor=actor(), reason=reason, now=now())
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
        return Response(_stay_page(stay_id, failed_action="erase", reason_problem=problem), status=400)
    with service().db.transaction() as db:
        found = _stay(db, stay_id)
        name, reference = found.guest_name, found.reference
        erased = datasubject.erase_stay(db, found, actor=actor(), reason=reason, now=now())
    service().db.erase_copies()
    return render_template("panel/erased.html", name=name, reference=reference, erased=erased)
