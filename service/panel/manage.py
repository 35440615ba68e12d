"""Managing the property: kiosks (enrolment codes, suspend, resume, revoke), the audit log, the settings."""

from __future__ import annotations

import base64
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from pydantic import ValidationError

from models.registry import OPERATING_POINTS, Manifest, ModelError, one_in
from service import property as prop
from service.checkin import kiosks
from service.panel import audit_text, queries
from service.panel.accounts import MANAGER
from service.panel.blueprint import actor, bp, now
from service.panel.forms import (
    AuditForm,
    ConsentForm,
    EnrolmentForm,
    GeneralForm,
    LivenessForm,
    MatchingForm,
    ReasonForm,
    RetentionForm,
)
from service.panel.i18n import gettext
from service.panel.security import requires
from service.storage import audit
from service.web.context import service


@bp.get("/kiosks", endpoint="kiosks")
@requires(MANAGER)
def kiosk_list() -> Any:
    """The kiosks, their state and the enrolment codes not used yet."""
    return _render_kiosks(EnrolmentForm())


def _render_kiosks(form: EnrolmentForm, issued: Any = None, status: int = 200, problem: str | None = None) -> Any:
    with service().db.transaction() as db:
        devices = kiosks.list_kiosks(db)
        pending = queries.pending_enrolment_codes(db, now())
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
        issued = kiosks.create_enrolment_code(
            db, kiosk_name=form.name.data.strip(), ttl_s=svc.settings.enrolment_code_ttl_s, actor=actor(), now=now()
        )
    return _render_kiosks(EnrolmentForm(formdata=None), issued=issued)


@bp.post("/kiosks/<kiosk_id>/<operation>")
@requires(MANAGER)
def kiosk_change(kiosk_id: str, operation: str) -> Any:
    """Suspend, resume or revoke a kiosk, with a written reason."""
    change = {
        "suspend": kiosks.suspend_kiosk,
        "resume": kiosks.resume_kiosk,
        "revoke": kiosks.revoke_kiosk,
    }.get(operation)
    if change is None:
        abort(404)
    form = ReasonForm()
    if not form.validate_on_submit():
        problem = gettext("Write a reason of 5 to 200 characters.")
        return _render_kiosks(EnrolmentForm(formdata=None), status=400, problem=problem)
    with service().db.transaction() as db:
        change(db, kiosk_id, actor=actor(), reason=str(form.reason.data).strip())
    flash(gettext("Kiosk updated."))
    return redirect(url_for("panel.kiosks"))


@bp.get("/audit")
@requires(MANAGER)
def audit_log() -> str:
    return _render_audit(report=None)


@bp.post("/audit/verify")
@requires(MANAGER)
def audit_verify() -> str:
    """Verify the whole chain; the page shows the report above the same list (the search kept in the URL)."""
    with service().db.transaction() as db:
        report = audit.verify_chain(db)
    return _render_audit(report=report)


def _render_audit(report: Any) -> str:
    """The audit page: the search form and its entries (the latest when no filter is given), in words."""
    form = AuditForm(request.args)
    described = []
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
            names = queries.kiosk_names(db)
            references = queries.stay_references(db, {e.subject for e in entries if e.subject})
        described = [(e, audit_text.describe(e, kiosk_names=names, stay_references=references)) for e in entries]
    return render_template("panel/audit.html", form=form, entries=described, report=report)


@bp.route("/settings", methods=["GET", "POST"])
@requires(MANAGER)
def settings() -> Any:
    """The property's settings, one form per section; posted, one section is validated and stored (audited)."""
    svc = service()
    with svc.db.transaction() as db:
        general = prop.load(db, prop.General)
        retention = prop.load(db, prop.Retention)
        liveness = prop.load(db, prop.Liveness)
        matching = prop.load(db, prop.Matching)
        consent = prop.load(db, prop.ConsentNotice)
    forms: dict[str, Any] = {
        "general": GeneralForm(prefix="general", data=general.model_dump(exclude={"logo"})),
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
        "matching": MatchingForm(prefix="matching", data={"target_fmr": f"{matching.target_fmr:g}"}),
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
                value = _section_value(section, form, consent, general)
            except ValidationError as exc:
                problem = "; ".join(str(e["msg"]) for e in exc.errors())
            else:
                with svc.db.transaction() as db:
                    prop.save(db, value, actor=actor())
                flash(gettext("Settings saved."))
                return redirect(url_for("panel.settings"))
        else:
            problem = gettext("Check the highlighted fields.")
        status = 400
    page = render_template(
        "panel/settings.html",
        forms=forms,
        problem=problem,
        section=section,
        consent_version=consent.version,
        operating_points=_operating_points(svc.manifest),
    )
    return Response(page, status=status)


def _operating_points(manifest: Manifest) -> dict[str, list[dict[str, Any]]]:
    """Per operating point (as the form's value), what each calibrated embedder gives on new guests.

    An embedder without a threshold for that point is listed as missing: the
    service would refuse its templates (``unknown-model``).
    """
    described: dict[str, list[dict[str, Any]]] = {}
    for target in OPERATING_POINTS:
        rows = described.setdefault(f"{target:g}", [])
        for entry in manifest.embedders:
            try:
                point = entry.operating_point(target)
            except ModelError:
                rows.append({"model": entry.name, "missing": True})
                continue
            fmr, fnmr = point.expected_fmr, point.expected_fnmr
            if fmr is None or fnmr is None:
                continue
            rows.append({"model": entry.name, "threshold": point.threshold, "n": one_in(fmr), "m": one_in(fnmr)})
    return described


def _section_value(section: str, form: Any, consent: prop.ConsentNotice, general: prop.General) -> Any:
    data = {k: v for k, v in form.data.items() if k != "csrf_token"}
    if section == "general":
        upload, remove = data.pop("logo"), data.pop("remove_logo")
        logo = None if remove else general.logo
        if upload:
            logo = prop.Logo(media_type=upload.mimetype, data=base64.b64encode(upload.read()).decode())
        return prop.General.model_validate(data | {"logo": logo})
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
    if section == "matching":
        return prop.Matching(target_fmr=float(data["target_fmr"]))
    text = {"en": data["text_en"].strip(), "zh-Hans": data["text_zh"].strip()}
    changed = text != dict(consent.text)
    return prop.ConsentNotice(version=consent.version + (1 if changed else 0), text=text)  # type: ignore[arg-type]
