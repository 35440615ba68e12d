"""The PMS integration API (``/pms/v1``): reservations and checkout, with a bearer API key."""

from __future__ import annotations

import datetime as dt
import re
import time

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service import metrics
from service.errors import BadRequest, UnsupportedMediaType
from service.stays import booking_qr, forget, integrations, reservations
from service.web.context import json_body, service

bp = Blueprint("pms_api", __name__, url_prefix="/pms/v1")


class BookingQR(BaseModel):
    """The booking QR of a new reservation, for the confirmation email (docs/api.md, "The booking QR")."""

    svg: str = Field(description="the QR as a standalone SVG document")
    png_base64: str = Field(description="the QR as a PNG, base64")
    email_html: str = Field(description="an <img> for the HTML email; attach the PNG inline under email_cid")
    email_cid: str = Field(description="the Content-ID to attach the PNG under")


class CreatedReservation(BaseModel):
    """A new reservation: its fields, its booking code and QR (this once; none when the PMS made the code)."""

    stay_id: str
    reference: str
    guest_name: str
    arrival: dt.date
    departure: dt.date
    status: str
    booking_code: str | None = Field(None, description="LETHE2.<reference>.<master secret>; shown this once")
    qr_payload: str | None = Field(None, description="the string the booking QR encodes (the booking code)")
    qr: BookingQR | None = None


@bp.post("/reservations")
def create_reservation() -> tuple[Response, int]:
    """Create a reservation. The answer holds the booking code and its QR (SVG, PNG, email snippet) this once only.

    With ``stay_secret_fingerprint`` (and ``reference``) the PMS made the booking code itself: the answer holds
    neither.
    """
    svc = service()
    with svc.db.transaction() as session:
        integration = integrations.authenticate(session, request.headers.get("Authorization"))
        body = json_body(reservations.ReservationBody)
        created = reservations.create_reservation(
            session,
            svc.keyring,
            guest_name=body.guest_name,
            arrival=body.arrival,
            departure=body.departure,
            reference=body.reference,
            stay_secret_fingerprint=body.stay_secret_fingerprint,
            actor=f"integration:{integration.name}",
        )
        return jsonify(_created_answer(created)), 201


def _created_answer(created: reservations.NewReservation) -> dict[str, object]:
    """A new (or renewed) stay's JSON, with its booking code's QR when the service made the code."""
    answer = reservations.created_json(created)
    if created.booking_code is not None:
        answer["qr"] = booking_qr.qr_json(created.stay.reference, str(created.booking_code))
    return answer


@bp.get("/reservations/<reference>")
def get_reservation(reference: str) -> Response:
    svc = service()
    with svc.db.transaction() as session:
        integrations.authenticate(session, request.headers.get("Authorization"))
        return jsonify(reservations.stay_json(reservations.stay_by_reference(session, reference)))


@bp.post("/reservations/<reference>/checkout")
def checkout(reference: str) -> Response:
    """Check the stay out: its templates and data key are deleted; the answer is the signed receipt."""
    svc = service()
    started = time.perf_counter()
    with svc.db.transaction() as session:
        integration = integrations.authenticate(session, request.headers.get("Authorization"))
        if request.get_data():
            raise BadRequest("checkout takes no body")
        stay = reservations.stay_by_reference(session, reference)
        receipt = forget.checkout(session, svc.keyring, stay, actor=f"integration:{integration.name}", now=svc.now())
    svc.db.erase_copies()  # the receipt only once no copy of the deleted bytes is left in SQLite's files
    metrics.deleted_after("checkout", [time.perf_counter() - started])
    return jsonify(receipt=receipt)


class ReissueBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stay_secret_fingerprint: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="PMS-side booking codes: the new code's stay-secret fingerprint",
    )


@bp.post("/reservations/<reference>/reissue")
def reissue_booking_code(reference: str) -> Response:
    """Renew the booking code: the stay's templates and data key are deleted, the old code stops working.

    The answer holds the new booking code once (none when the PMS sent the new code's fingerprint).
    """
    svc = service()
    with svc.db.transaction() as session:
        integration = integrations.authenticate(session, request.headers.get("Authorization"))
        body = json_body(ReissueBody) if request.get_data() else ReissueBody()
        stay = reservations.stay_by_reference(session, reference)
        done = forget.reissue(
            session,
            svc.keyring,
            stay,
            actor=f"integration:{integration.name}",
            now=svc.now(),
            stay_secret_fingerprint=body.stay_secret_fingerprint,
        )
        answer = _created_answer(reservations.NewReservation(stay, done.booking_code))
        answer["deleted"] = {"templates": done.forgotten.templates, "data_keys": done.forgotten.data_keys}
    svc.db.erase_copies()  # the old code's templates: no copy left in SQLite's files
    return jsonify(answer)


class UpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    guest_name: str | None = Field(default=None, min_length=1, max_length=200)
    arrival: dt.date | None = None
    departure: dt.date | None = None


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: dt.date
    kind: reservations.Listing = "arrivals"

    @field_validator("date", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        # pydantic reads a number as a Unix time: "?date=0" would be 1970-01-01.
        if not (isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value)):
            raise ValueError("a date as YYYY-MM-DD")
        return value


@bp.get("/reservations")
def list_reservations() -> Response:
    """Reservations arriving on, departing on, or in house on ``?date=YYYY-MM-DD`` (``&kind=``)."""
    try:
        query = ListQuery.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise BadRequest("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    svc = service()
    with svc.db.transaction() as session:
        integrations.authenticate(session, request.headers.get("Authorization"))
        found = reservations.list_reservations(session, query.date, query.kind)
        return jsonify(
            date=query.date.isoformat(), kind=query.kind, reservations=[reservations.stay_json(s) for s in found]
        )


@bp.patch("/reservations/<reference>")
def update_reservation(reference: str) -> Response:
    """Change the guest name or dates of a reservation."""
    svc = service()
    with svc.db.transaction() as session:
        integration = integrations.authenticate(session, request.headers.get("Authorization"))
        body = json_body(UpdateBody)
        stay = reservations.update_reservation(
            session,
            reservations.stay_by_reference(session, reference),
            actor=f"integration:{integration.name}",
            guest_name=body.guest_name,
            arrival=body.arrival,
            departure=body.departure,
        )
        return jsonify(reservations.stay_json(stay))


@bp.post("/reservations/<reference>/cancel")
def cancel_reservation(reference: str) -> Response:
    """Cancel a reservation that is not checked in; its data key is deleted at once."""
    svc = service()
    with svc.db.transaction() as session:
        integration = integrations.authenticate(session, request.headers.get("Authorization"))
        if request.get_data():
            raise BadRequest("cancel takes no body")
        stay = reservations.stay_by_reference(session, reference)
        deleted = forget.cancel_reservation(session, stay, actor=f"integration:{integration.name}", now=svc.now())
        answer = reservations.stay_json(stay) | {"deleted": deleted}
    svc.db.erase_copies()
    return jsonify(answer)


@bp.post("/reservations/import")
def import_reservations() -> tuple[Response, int]:
    """Create a day's arrivals from CSV (``text/csv``); all rows or none. Booking codes are returned this once."""
    if request.mimetype != "text/csv":
        raise UnsupportedMediaType("send the arrivals as text/csv")
    try:
        text = request.get_data().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the CSV must be UTF-8") from None
    svc = service()
    with svc.db.transaction() as session:
        integration = integrations.authenticate(session, request.headers.get("Authorization"))
        result = reservations.import_csv(session, svc.keyring, text, actor=f"integration:{integration.name}")
        return jsonify(created=[reservations.created_json(c) for c in result.created]), 201
