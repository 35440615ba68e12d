"""Kiosk devices: one-time enrolment codes, registration and request authentication."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from protocol import InvalidSignature, VerifyKey, parse_request_headers, verify_request
from protocol.request import SignedRequest
from service import audit
from service.errors import (
    BadRequest,
    InvalidEnrolmentCode,
    InvalidRequestSignature,
    KioskNotActive,
    ReplayedRequest,
    StaleRequest,
    UnknownKiosk,
)
from service.models import EnrolmentCode, Kiosk, RequestNonce


def _hash_code(code: str) -> str:
    normalised = code.replace("-", "").replace(" ", "").upper()
    return hashlib.sha256(b"lethe/v1 enrolment-code\x00" + normalised.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: dt.datetime


def create_enrolment_code(session: Session, *, kiosk_name: str, ttl_s: int, actor: str, now: dt.datetime) -> IssuedCode:
    """Create a one-time enrolment code for a kiosk to be named ``kiosk_name``; the code is shown once."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode()
    code = "-".join(raw[i : i + 4] for i in range(0, 16, 4))
    expires = now + dt.timedelta(seconds=ttl_s)
    session.add(EnrolmentCode(code_hash=_hash_code(code), kiosk_name=kiosk_name, expires_at=expires))
    audit.append(session, actor=actor, action="kiosk.enrolment-code.create", details={"kiosk_name": kiosk_name})
    return IssuedCode(code, expires)


def register_kiosk(session: Session, *, code: str, public_key: bytes, now: dt.datetime) -> Kiosk:
    """Register a kiosk's Ed25519 public key with a valid, unused enrolment code."""
    if len(public_key) != 32:
        raise BadRequest("public_key must be a 32-byte Ed25519 key")
    enrolment = session.scalars(
        select(EnrolmentCode).where(EnrolmentCode.code_hash == _hash_code(code)).with_for_update()
    ).first()
    if enrolment is None or enrolment.used_at is not None or enrolment.expires_at <= now:
        raise InvalidEnrolmentCode()
    kiosk = Kiosk(name=enrolment.kiosk_name, public_key=public_key)
    session.add(kiosk)
    session.flush()
    enrolment.used_at = now
    enrolment.kiosk_id = kiosk.id
    audit.append(session, actor=f"kiosk:{kiosk.id}", action="kiosk.register", subject=kiosk.id)
    return kiosk


def active_kiosk(session: Session, kiosk_id: uuid.UUID | str) -> Kiosk:
    """Return the kiosk if it exists and is active; raise ``unknown-kiosk`` or ``kiosk-not-active``."""
    kiosk = session.get(Kiosk, str(kiosk_id))
    if kiosk is None:
        raise UnknownKiosk()
    if kiosk.status != "active":
        raise KioskNotActive()
    return kiosk


def check_fresh(timestamp_ms: int, now: dt.datetime, skew_s: int) -> None:
    if abs(now.timestamp() * 1000 - timestamp_ms) > skew_s * 1000:
        raise StaleRequest()


def authenticate_request(
    session: Session,
    headers: dict[str, str],
    *,
    method: str,
    path: str,
    body: bytes,
    now: dt.datetime,
    skew_s: int,
) -> Kiosk:
    """Authenticate a signed kiosk request: known active kiosk, valid signature, fresh, not replayed."""
    try:
        signed: SignedRequest = parse_request_headers(headers)
    except InvalidSignature:
        raise InvalidRequestSignature() from None
    kiosk = active_kiosk(session, signed.kiosk_id)
    try:
        verify_request(VerifyKey(kiosk.public_key), signed, method, path, body)
    except InvalidSignature:
        raise InvalidRequestSignature() from None
    check_fresh(signed.timestamp_ms, now, skew_s)
    remember_nonce(session, f"{kiosk.id}:{signed.nonce}", now=now, ttl_s=2 * skew_s)
    kiosk.last_seen_at = now
    return kiosk


def remember_nonce(session: Session, key: str, *, now: dt.datetime, ttl_s: int) -> None:
    """Record a request nonce; raise ``replayed-request`` if it was seen within its window.

    A request older than the freshness window is refused before this point, so a
    nonce only needs remembering for that window; expired ones are dropped here.
    """
    session.execute(delete(RequestNonce).where(RequestNonce.expires_at < now))
    try:
        with session.begin_nested():
            session.add(RequestNonce(key=key, expires_at=now + dt.timedelta(seconds=ttl_s)))
    except IntegrityError:
        raise ReplayedRequest() from None
