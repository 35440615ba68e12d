"""The kiosk API: public keys, registration, sessions and verification (``/api/v1``)."""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from service import checkin, kiosks
from service.context import json_body, service
from service.errors import BadRequest, UnsupportedMediaType

bp = Blueprint("kiosk_api", __name__, url_prefix="/api/v1")
ENVELOPE_MEDIA_TYPE = "application/vnd.lethe.envelope"


class RegisterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=8, max_length=32)
    public_key: str = Field(min_length=40, max_length=48, description="base64 of the 32-byte Ed25519 key")


class SessionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    booking_reference: str = Field(pattern=r"^[A-Za-z0-9]{6,16}$")


@bp.get("/keys")
def keys() -> Response:
    """The service's public keys: HPKE recipients (newest first) and receipt verification keys."""
    ring = service().keyring
    return jsonify(
        hpke=[
            {
                "suite": k.suite.label,
                "key_id": k.public_key().key_id.hex(),
                "public_key": base64.b64encode(k.public_key().raw).decode(),
            }
            for k in ring.hpke
        ],
        receipt=[{"key_id": k.key_id.hex(), "public_key_pem": k.to_pem().decode()} for k in ring.receipt_public_keys()],
    )


@bp.post("/kiosks")
def register() -> tuple[Response, int]:
    body = json_body(RegisterBody)
    try:
        public_key = base64.b64decode(body.public_key, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("public_key is not base64") from None
    svc = service()
    with svc.db.transaction() as session:
        kiosk = kiosks.register_kiosk(session, code=body.code, public_key=public_key, now=svc.now())
        return jsonify(kiosk_id=kiosk.id, name=kiosk.name), 201


@bp.post("/sessions")
def open_session() -> tuple[Response, int]:
    svc = service()
    raw = request.get_data(cache=True)
    with svc.db.transaction() as session:
        kiosk = kiosks.authenticate_request(
            session,
            dict(request.headers),
            method=request.method,
            path=request.path,
            body=raw,
            now=svc.now(),
            skew_s=svc.settings.clock_skew_s,
        )
        body = json_body(SessionBody)
        opened = checkin.open_session(
            session, kiosk, reference=body.booking_reference, now=svc.now(), ttl_s=svc.settings.session_ttl_s
        )
        return jsonify(
            session_id=opened.id,
            nonce=base64.b64encode(opened.nonce).decode(),
            expires_at=opened.expires_at.isoformat(),
        ), 201


@bp.post("/verify")
def verify() -> Response:
    """Verify a sealed envelope (the request body, ``application/vnd.lethe.envelope``)."""
    if request.mimetype != ENVELOPE_MEDIA_TYPE:
        raise UnsupportedMediaType(f"send the envelope as {ENVELOPE_MEDIA_TYPE}")
    svc = service()
    with svc.db.transaction() as session:
        result = checkin.verify(
            session, svc.keyring, svc.manifest, request.get_data(), now=svc.now(), skew_s=svc.settings.clock_skew_s
        )
    if result.problem is not None:
        raise result.problem
    return jsonify(result.as_json())
