"""The kiosk API: public keys, registration, sessions and verification (``/api/v1``)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from protocol import InvalidBookingCode, secret_fingerprint
from protocol.booking import decode_secret
from protocol.encoding import b64_decode
from service import metrics
from service import property as prop
from service.checkin import consent, kiosks, sessions, verification
from service.errors import BadRequest, BookingSecretMismatch, LetheError, UnsupportedMediaType
from service.stays import forget, reservations
from service.web import limits
from service.web.context import json_body, service
from service.web.receipt import receipt_page_url

bp = Blueprint("kiosk_api", __name__, url_prefix="/api/v1")
ENVELOPE_MEDIA_TYPE = "application/vnd.lethe.envelope"


class RegisterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=8, max_length=32)
    public_key: str = Field(min_length=40, max_length=48, description="base64 of the 32-byte Ed25519 key")


class SessionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    booking_reference: str = Field(pattern=r"^[A-Za-z0-9]{6,16}$")
    purpose: Literal["check-in", "reverify"] = Field(
        default="check-in",
        description="check-in (the guest brings an ID) or reverify (a checked-in guest, compared with the stay's "
        "stored template; a stay not checked in is refused with stay-not-checked-in)",
    )


def _signed_kiosk() -> str:
    """The id of the active kiosk that signed this request (fresh, not replayed), its rate limit counted.

    Call it before the view's own transaction: the authentication commits in a
    transaction of its own, so the request's nonce is remembered whatever the
    view answers afterwards (a refusal rolls back only the view's work).
    """
    svc = service()
    with svc.db.transaction() as session:
        kiosk_id = kiosks.authenticate_request(
            session,
            dict(request.headers),
            method=request.method,
            path=request.path,
            body=request.get_data(cache=True),
            now=svc.now(),
            skew_s=svc.settings.clock_skew_s,
            replay=svc.replay,
        ).id
    limits.hit("kiosk", kiosk_id)
    return kiosk_id


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
    limits.hit("register", request.remote_addr or "unknown")
    body = json_body(RegisterBody)
    try:
        public_key = b64_decode(body.public_key)
    except ValueError:
        raise BadRequest("public_key is not canonical padded base64") from None
    svc = service()
    with svc.db.transaction() as session:
        kiosk = kiosks.register_kiosk(session, code=body.code, public_key=public_key, now=svc.now())
        return jsonify(kiosk_id=kiosk.id, name=kiosk.name), 201


@bp.post("/sessions")
def open_session() -> tuple[Response, int]:
    svc = service()
    kiosk_id = _signed_kiosk()
    with svc.db.transaction() as session:
        kiosk = kiosks.active_kiosk(session, kiosk_id)
        body = json_body(SessionBody)
        limits.hit("stay", hashlib.sha256(body.booking_reference.upper().encode()).hexdigest()[:32])
        opened = sessions.open_session(
            session,
            kiosk,
            reference=body.booking_reference,
            now=svc.now(),
            ttl_s=svc.settings.session_ttl_s,
            purpose=body.purpose,
        )
        return jsonify(
            session_id=opened.id,
            nonce=base64.b64encode(opened.nonce).decode(),
            expires_at=opened.expires_at.isoformat(),
            challenge=opened.challenge,
            purpose=opened.purpose,
            consent=prop.load(session, prop.ConsentNotice).model_dump(),
        ), 201


@bp.post("/verify")
def verify() -> Response:
    """Verify a sealed envelope (the request body, ``application/vnd.lethe.envelope``)."""
    if request.mimetype != ENVELOPE_MEDIA_TYPE:
        raise UnsupportedMediaType(f"send the envelope as {ENVELOPE_MEDIA_TYPE}")
    svc = service()
    started = time.perf_counter()
    try:
        result = verification.verify(
            svc.db,
            svc.keyring,
            svc.manifest,
            request.get_data(),
            now=svc.now(),
            skew_s=svc.settings.clock_skew_s,
            limit=limits.hit,
        )
    except LetheError as exc:
        metrics.verification(exc.code, time.perf_counter() - started)
        raise
    metrics.verification(
        result.reason if result.decision == "rejected" else result.decision, time.perf_counter() - started
    )
    if result.problem is not None:
        raise result.problem
    return jsonify(result.as_json())


class CheckoutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: str = Field(pattern=r"^[A-Z0-9]{6,16}$", description="the booking code's reference")
    stay_secret: str = Field(
        pattern=r"^[A-Z2-7]{26}$", description="the stay secret the kiosk derived from the booking code (base32)"
    )


class EndBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Literal["failure-to-acquire", "liveness-failed", "guest-cancelled", "timeout", "unspecified"] = Field(
        default="unspecified", description="why the kiosk gives the session up (counted in /metrics, nothing else)"
    )


@bp.post("/sessions/<session_id>/end")
def end_session(session_id: str) -> Response:
    """The kiosk ends an open session it will not use (no face acquired, guest walked away, chose the desk).

    The optional body ``{"reason"}`` feeds the failure-to-acquire and session metrics.
    """
    svc = service()
    kiosk_id = _signed_kiosk()
    with svc.db.transaction() as session:
        kiosk = kiosks.active_kiosk(session, kiosk_id)
        reason = json_body(EndBody).reason if request.get_data() else "unspecified"
        ended = sessions.end_session(session, kiosk, session_id, now=svc.now())
        answer = jsonify(session_id=ended.id, status=ended.status)
    metrics.session_ended(reason)
    return answer


class ConsentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["accepted", "refused"] = Field(description="the guest's answer to the consent notice")
    version: int = Field(ge=1, le=1_000_000, description="the notice version shown (the session's `consent.version`)")


@bp.post("/sessions/<session_id>/consent")
def record_consent(session_id: str) -> Response:
    """Record the guest's answer to the consent notice for an open session (signed kiosk request).

    ``accepted`` must name the property's current notice version and is required before
    ``/verify``; ``refused`` closes the session (status ``consent-refused``). Audited.
    """
    svc = service()
    kiosk_id = _signed_kiosk()
    with svc.db.transaction() as session:
        kiosk = kiosks.active_kiosk(session, kiosk_id)
        body = json_body(ConsentBody)
        recorded = consent.record(
            session, kiosk, session_id, decision=body.decision, version=body.version, now=svc.now()
        )
        answer = jsonify(
            session_id=recorded.id,
            status=recorded.status,
            consent=recorded.consent,
            version=recorded.consent_version,
        )
    if body.decision == "refused":
        metrics.session_ended("consent-refused")
    return answer


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["ready", "out-of-order"] = Field(description="whether the kiosk can serve guests")
    error: str | None = Field(
        default=None, pattern=r"^[a-z0-9-]{1,64}$", description="the error code that puts it out of order"
    )


@bp.post("/kiosks/status")
def kiosk_status() -> Response:
    """The kiosk reports its state (signed); the answer is what its guest screen shows of the property.

    Staff see the last report on the Kiosks page (last seen, state, last error code).
    """
    svc = service()
    kiosk_id = _signed_kiosk()
    with svc.db.transaction() as session:
        kiosk = kiosks.active_kiosk(session, kiosk_id)
        body = json_body(StatusBody)
        kiosks.record_state(kiosk, state=body.state, error=body.error, now=svc.now())
        general = prop.load(session, prop.General)
        answer = jsonify(
            kiosk_id=kiosk.id,
            name=kiosk.name,
            state=kiosk.state,
            property={
                "name": general.name,
                "accent_colour": general.accent_colour,
                "logo": general.logo.model_dump() if general.logo else None,
            },
            receipt={"key_id": svc.keyring.receipt_key.public_key().key_id.hex(), "page_url": receipt_page_url()},
        )
    return answer


@bp.post("/checkout")
def checkout() -> Response:
    """Check out at the kiosk: the guest shows the booking QR; the answer is the signed deletion receipt.

    The kiosk sends the reference and the derived stay secret, never the booking code's master secret.
    """
    svc = service()
    started = time.perf_counter()
    kiosk_id = _signed_kiosk()
    with svc.db.transaction() as session:
        kiosk = kiosks.active_kiosk(session, kiosk_id)
        body = json_body(CheckoutBody)
        try:
            stay_secret = decode_secret(body.stay_secret)
        except InvalidBookingCode:
            raise BadRequest("stay_secret is not canonical base32") from None
        limits.hit("stay", hashlib.sha256(body.reference.encode()).hexdigest()[:32])
        stay = reservations.stay_by_reference(session, body.reference)
        if not secrets.compare_digest(secret_fingerprint(stay_secret), stay.secret_fingerprint):
            raise BookingSecretMismatch()
        receipt = forget.checkout(session, svc.keyring, stay, actor=f"kiosk:{kiosk.id}", now=svc.now())
    svc.db.erase_copies()  # the receipt only once no copy of the deleted bytes is left in SQLite's files
    metrics.deleted_after("checkout", [time.perf_counter() - started])
    return jsonify(receipt=receipt)
