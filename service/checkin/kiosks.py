"""Kiosk devices: one-time enrolment codes, registration and request authentication."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from protocol import InvalidSignature, VerifyKey, parse_request_headers, verify_request
from protocol.request import SignedRequest
from service import webhooks
from service.checkin.replay import ReplayCache
from service.errors import (
    BadRequest,
    InvalidEnrolmentCode,
    InvalidRequestSignature,
    InvalidTransition,
    KioskRevoked,
    KioskSuspended,
    NotFound,
    StaleRequest,
    UnknownKiosk,
)
from service.storage import audit
from service.storage.tables import CheckinSession, EnrolmentCode, Kiosk

ACTIVE, SUSPENDED, REVOKED = "active", "suspended", "revoked"
log = logging.getLogger(__name__)


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
    audit.append(
        session, audit.Entry(actor=actor, action="kiosk.enrolment-code.create", details={"kiosk_name": kiosk_name})
    )
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
    audit.append(session, audit.Entry(actor=f"kiosk:{kiosk.id}", action="kiosk.register", subject=kiosk.id))
    return kiosk


def require_active(status: str | None) -> None:
    """Raise ``unknown-kiosk`` (``None``: no such kiosk), ``kiosk-suspended`` or ``kiosk-revoked`` unless active.

    Callers read the status in the request's own transaction, so a suspension
    or a revocation takes effect for the very next request, on every worker.
    """
    if status is None:
        raise UnknownKiosk()
    if status == SUSPENDED:
        raise KioskSuspended()
    if status != ACTIVE:
        raise KioskRevoked()


def active_kiosk(session: Session, kiosk_id: str) -> Kiosk:
    """The kiosk ``kiosk_id``, read in ``session``'s transaction; raise unless it is active (:func:`require_active`)."""
    kiosk = session.get(Kiosk, kiosk_id)
    require_active(None if kiosk is None else kiosk.status)
    assert kiosk is not None
    return kiosk


# -- lifecycle (CLI and staff panel) -------------------------------------------------------------


@dataclass(frozen=True)
class KioskInfo:
    """What staff see of a kiosk: never its key material beyond the key id."""

    id: str
    name: str
    status: str
    key_id: str
    created_at: dt.datetime
    last_seen_at: dt.datetime | None
    state: str | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "key_id": self.key_id,
            "created_at": self.created_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat() if self.last_seen_at else None,
            "state": self.state,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
        }


def _info(kiosk: Kiosk) -> KioskInfo:
    return KioskInfo(
        id=kiosk.id,
        name=kiosk.name,
        status=kiosk.status,
        key_id=VerifyKey(kiosk.public_key).key_id.hex(),
        created_at=kiosk.created_at,
        last_seen_at=kiosk.last_seen_at,
        state=kiosk.state,
        last_error=kiosk.last_error,
        last_error_at=kiosk.last_error_at,
    )


def record_state(kiosk: Kiosk, *, state: str, error: str | None, now: dt.datetime) -> None:
    """Keep what the kiosk reported: ``ready``, or ``out-of-order`` with the error code that stops it.

    The last error code and its time stay when the kiosk is ready again, so staff
    see what last went wrong; the kiosk's log holds the detail.
    """
    if state == "out-of-order" and kiosk.state != "out-of-order":
        log.warning("kiosk %s is out of order: %s", kiosk.id, error)
    kiosk.state = state
    if error is not None:
        kiosk.last_error = error
        kiosk.last_error_at = now


def list_kiosks(session: Session, *, status: str | None = None) -> list[KioskInfo]:
    """Every registered kiosk (optionally only those with ``status``), oldest first."""
    query = select(Kiosk).order_by(Kiosk.created_at, Kiosk.id)
    if status is not None:
        query = query.where(Kiosk.status == status)
    return [_info(k) for k in session.scalars(query)]


def _kiosk_for_update(session: Session, kiosk_id: str) -> Kiosk:
    kiosk = session.scalars(select(Kiosk).where(Kiosk.id == str(kiosk_id)).with_for_update()).first()
    if kiosk is None:
        raise NotFound(f"no kiosk has id {kiosk_id}")
    return kiosk


def _transition(
    session: Session, kiosk_id: str, *, allowed_from: tuple[str, ...], to: str, action: str, actor: str, reason: str
) -> KioskInfo:
    reason = audit.require_reason(reason)
    kiosk = _kiosk_for_update(session, kiosk_id)
    if kiosk.status not in allowed_from:
        raise InvalidTransition(f"the kiosk is {kiosk.status}; cannot {action.rsplit('.', 1)[-1]} it")
    previous, kiosk.status = kiosk.status, to
    if to == REVOKED:  # its open sessions close with it (before the audit entry: the chain's lock comes last)
        session.execute(
            update(CheckinSession)
            .where(CheckinSession.kiosk_id == kiosk.id, CheckinSession.status == "open")
            .values(status="revoked")
        )
    if to == SUSPENDED:
        event = {"kiosk": webhooks.kiosk_ref(kiosk.id, kiosk.name)}
        webhooks.emit(session, "kiosk.suspended", event, now=dt.datetime.now(dt.UTC))
    audit.append(
        session,
        audit.Entry(
            actor=actor, action=action, subject=kiosk.id, details={"from": previous, "to": to, "reason": reason}
        ),
    )
    return _info(kiosk)


def suspend_kiosk(session: Session, kiosk_id: str, *, actor: str, reason: str) -> KioskInfo:
    """Suspend an active kiosk: its next request is refused with ``kiosk-suspended``."""
    return _transition(
        session, kiosk_id, allowed_from=(ACTIVE,), to=SUSPENDED, action="kiosk.suspend", actor=actor, reason=reason
    )


def resume_kiosk(session: Session, kiosk_id: str, *, actor: str, reason: str) -> KioskInfo:
    """Resume a suspended kiosk (a revoked one can only register again)."""
    return _transition(
        session, kiosk_id, allowed_from=(SUSPENDED,), to=ACTIVE, action="kiosk.resume", actor=actor, reason=reason
    )


def revoke_kiosk(session: Session, kiosk_id: str, *, actor: str, reason: str) -> KioskInfo:
    """Revoke a kiosk for good: refused with ``kiosk-revoked``; its open check-in sessions are closed."""
    return _transition(
        session,
        kiosk_id,
        allowed_from=(ACTIVE, SUSPENDED),
        to=REVOKED,
        action="kiosk.revoke",
        actor=actor,
        reason=reason,
    )


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
    replay: ReplayCache,
) -> Kiosk:
    """Authenticate a signed kiosk request: known active kiosk, valid signature, fresh, not replayed.

    The request's nonce goes to ``replay`` (``service/checkin/replay.py``).
    """
    try:
        signed: SignedRequest = parse_request_headers(headers)
    except InvalidSignature:
        raise InvalidRequestSignature() from None
    kiosk = active_kiosk(session, str(signed.kiosk_id))
    try:
        verify_request(VerifyKey(kiosk.public_key), signed, method, path, body)
    except InvalidSignature:
        raise InvalidRequestSignature() from None
    check_fresh(signed.timestamp_ms, now, skew_s)
    key = f"{kiosk.id}:{signed.nonce}"
    replay.remember(session, key, now=now, ttl_s=2 * skew_s)
    kiosk.last_seen_at = now
    return kiosk
