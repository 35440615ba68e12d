"""The PMS integration API (``/pms/v1``): reservations and checkout, with a bearer API key."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from service import integrations, reservations
from service.context import json_body, service
from service.errors import BadRequest
from service.models import Stay

bp = Blueprint("pms_api", __name__, url_prefix="/pms/v1")


class ReservationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    guest_name: str = Field(min_length=1, max_length=200)
    arrival: dt.date
    departure: dt.date
    reference: str | None = Field(default=None, pattern=r"^[A-Z0-9]{6,16}$")

    @model_validator(mode="after")
    def _dates(self) -> ReservationBody:
        if self.departure < self.arrival:
            raise ValueError("departure is before arrival")
        return self


def _stay_json(stay: Stay) -> dict[str, object]:
    return {
        "stay_id": stay.id,
        "reference": stay.reference,
        "guest_name": stay.guest_name,
        "arrival": stay.arrival.isoformat(),
        "departure": stay.departure.isoformat(),
        "status": stay.status,
    }


@bp.post("/reservations")
def create_reservation() -> tuple[Response, int]:
    """Create a reservation. The answer holds the booking code (for the QR) this once only."""
    svc = service()
    with svc.db.transaction() as session:
        integration = integrations.authenticate(session, request.headers.get("Authorization"))
        body = json_body(ReservationBody)
        created = reservations.create_reservation(
            session,
            svc.keyring,
            guest_name=body.guest_name,
            arrival=body.arrival,
            departure=body.departure,
            reference=body.reference,
            actor=f"integration:{integration.name}",
        )
        return jsonify(_stay_json(created.stay) | {"booking_code": str(created.booking_code)}), 201


@bp.get("/reservations/<reference>")
def get_reservation(reference: str) -> Response:
    svc = service()
    with svc.db.transaction() as session:
        integrations.authenticate(session, request.headers.get("Authorization"))
        return jsonify(_stay_json(reservations.stay_by_reference(session, reference)))


@bp.post("/reservations/<reference>/checkout")
def checkout(reference: str) -> Response:
    """Check the stay out: its templates and data key are deleted; the answer is the signed receipt."""
    svc = service()
    with svc.db.transaction() as session:
        integration = integrations.authenticate(session, request.headers.get("Authorization"))
        if request.get_data():
            raise BadRequest("checkout takes no body")
        stay = reservations.stay_by_reference(session, reference)
        receipt = reservations.checkout(
            session, svc.keyring, stay, actor=f"integration:{integration.name}", now=svc.now()
        )
        return jsonify(receipt=receipt)
