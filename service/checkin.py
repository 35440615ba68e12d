"""The check-in: open a session, then verify a sealed envelope against it.

``verify`` runs the whole decision in the caller's transaction: authenticate
the kiosk's envelope, check the guest's recorded consent (``service/consent.py``),
consume the session nonce, open the payload in memory,
compare 1:1, store the accepted live template encrypted for the stay, and
record the attempt and an audit entry. Templates exist in clear only in local
variables of this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models.registry import Manifest
from protocol import (
    CheckinPayload,
    InvalidEnvelope,
    Template,
    VerifyKey,
    decode_payload,
    decode_template,
    encode_template,
    open_envelope,
    parse_envelope,
    secret_fingerprint,
)
from protocol.vault import decrypt_template, derive_data_key, encrypt_template, unwrap_key_seed
from service import audit, liveness, lockout
from service.consent import REFUSED_STATUS
from service.errors import (
    BookingSecretMismatch,
    ConsentRefused,
    ConsentRequired,
    InvalidEnvelopeError,
    LetheError,
    MissingIdTemplate,
    ReplayedEnvelope,
    SessionExpired,
    StayNotActive,
    UnknownSession,
)
from service.keyring import Keyring
from service.kiosks import active_kiosk, check_fresh
from service.matcher import compare
from service.models import CheckinAttempt, CheckinSession, Kiosk, Stay, StayKey, StoredTemplate
from service.reservations import ACTIVE, stay_by_reference

log = logging.getLogger(__name__)
LAST_SEEN_RESOLUTION = dt.timedelta(seconds=30)  # a kiosk's last-seen time is kept to this precision


@dataclass(frozen=True)
class Verification:
    """The answer to one envelope. ``problem`` is set when the attempt was recorded but refused."""

    session_id: str
    decision: str
    reason: str
    model_id: str | None = None
    score: float | None = None
    threshold: float | None = None
    problem: LetheError | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "session": self.session_id,
            "decision": self.decision,
            "reason": self.reason,
            "model": self.model_id,
            "score": self.score,
            "threshold": self.threshold,
        }


def open_session(session: Session, kiosk: Kiosk, *, reference: str, now: dt.datetime, ttl_s: int) -> CheckinSession:
    """Open a check-in session for the stay with booking ``reference``; returns it with its nonce."""
    stay = stay_by_reference(session, reference)
    if stay.status not in ACTIVE:
        raise StayNotActive()
    lockout.check_not_locked(stay)
    checkin = CheckinSession(
        id=str(uuid.uuid4()),
        stay_id=stay.id,
        kiosk_id=kiosk.id,
        nonce=secrets.token_bytes(32),
        expires_at=now + dt.timedelta(seconds=ttl_s),
        challenge=liveness.choose_challenge(session),
    )
    session.add(checkin)
    audit.append(session, actor=f"kiosk:{kiosk.id}", action="checkin.session.open", subject=stay.id)
    return checkin


def verify(
    session: Session,
    keyring: Keyring,
    manifest: Manifest,
    body: bytes,
    *,
    now: dt.datetime,
    skew_s: int,
    limit: Callable[[str, str], None] | None = None,
) -> Verification:
    """Verify one sealed envelope; see the module docstring for the steps.

    ``limit(scope, identity)``, when given, is called with ``("kiosk", id)`` once the
    envelope's device signature holds, and may raise ``rate-limited``.
    """
    try:
        envelope = parse_envelope(body)
    except InvalidEnvelope as exc:
        log.info("envelope refused: %s", exc.reason)
        raise InvalidEnvelopeError() from None
    header = envelope.header
    kiosk = active_kiosk(session, header.kiosk_id)
    try:
        payload_bytes = open_envelope(envelope, device_key=VerifyKey(kiosk.public_key), recipient_keys=keyring.hpke)
        payload = decode_payload(payload_bytes)
    except InvalidEnvelope as exc:
        log.info("envelope from kiosk %s refused: %s", kiosk.id, exc.reason)
        raise InvalidEnvelopeError() from None
    if limit is not None:
        limit("kiosk", kiosk.id)
    check_fresh(header.timestamp_ms, now, skew_s)
    checkin = _consume_session(session, kiosk, header.session_id, header.nonce, now)
    if kiosk.last_seen_at is None or now - kiosk.last_seen_at > LAST_SEEN_RESOLUTION:
        kiosk.last_seen_at = now
    stay = session.get_one(Stay, checkin.stay_id)
    if stay.status not in ACTIVE:
        raise StayNotActive()
    lockout.check_not_locked(stay)
    if secret_fingerprint(payload.stay_secret) != stay.secret_fingerprint:
        result = Verification(checkin.id, "rejected", "booking-secret-mismatch", problem=BookingSecretMismatch())
        _record(session, stay, kiosk, result, now)
        lockout.note_failure(session, stay, actor=f"kiosk:{kiosk.id}", now=now)
        return result
    if (failure := liveness.failure(session, checkin, payload.liveness)) is not None:
        log.info("check-in session %s: liveness failed: %s", checkin.id, failure)
        result = Verification(checkin.id, "rejected", "liveness-failed")
        _record(session, stay, kiosk, result, now)
        lockout.note_failure(session, stay, actor=f"kiosk:{kiosk.id}", now=now)
        return result
    stay_key = session.get(StayKey, stay.id)
    if stay_key is None:
        raise StayNotActive()
    data_key = derive_data_key(
        unwrap_key_seed(keyring.kek(stay_key.kek_id), stay_key.wrapped_seed, stay_id=stay.id),
        payload.stay_secret,
        stay_id=stay.id,
    )
    reference = payload.id_template or _stored_template(session, stay, data_key, payload)
    match = compare(payload.live, reference, manifest)
    result = Verification(
        checkin.id,
        "accepted" if match.is_match else "rejected",
        "match" if match.is_match else "no-match",
        match.model_id,
        match.score,
        match.threshold,
    )
    if match.is_match:
        _store_template(session, stay, payload.live, data_key)
        stay.status = "checked_in"
        stay.checked_in_at = stay.checked_in_at or now
    _record(session, stay, kiosk, result, now)
    if not match.is_match:
        lockout.note_failure(session, stay, actor=f"kiosk:{kiosk.id}", now=now)
    return result


def end_session(session: Session, kiosk: Kiosk, session_id: str, *, now: dt.datetime) -> CheckinSession:
    """Close an open session of ``kiosk`` unused (``ended``); raise ``unknown-session`` or ``replayed-envelope``."""
    checkin = session.scalars(select(CheckinSession).where(CheckinSession.id == session_id).with_for_update()).first()
    if checkin is None or checkin.kiosk_id != kiosk.id:
        raise UnknownSession()
    if checkin.status != "open":
        raise ReplayedEnvelope("the session is already used or closed")
    checkin.status = "ended"
    checkin.used_at = now
    return checkin


def _consume_session(
    session: Session, kiosk: Kiosk, session_id: uuid.UUID, nonce: bytes, now: dt.datetime
) -> CheckinSession:
    checkin = session.scalars(
        select(CheckinSession).where(CheckinSession.id == str(session_id)).with_for_update()
    ).first()
    if checkin is None or checkin.kiosk_id != kiosk.id:
        raise UnknownSession()
    if not secrets.compare_digest(checkin.nonce, nonce):
        log.info("envelope from kiosk %s refused: nonce does not match session", kiosk.id)
        raise InvalidEnvelopeError()
    if checkin.status == REFUSED_STATUS:
        raise ConsentRefused()
    if checkin.status != "open":
        raise ReplayedEnvelope()
    if checkin.expires_at <= now:
        raise SessionExpired()
    if checkin.consent != "accepted":
        raise ConsentRequired()
    checkin.status = "used"
    checkin.used_at = now
    return checkin


def _stored_template(session: Session, stay: Stay, data_key: bytes, payload: CheckinPayload) -> Template:
    stored = session.scalars(
        select(StoredTemplate)
        .where(StoredTemplate.stay_id == stay.id, StoredTemplate.model_id == payload.live.model_id)
        .order_by(StoredTemplate.created_at.desc())
    ).first()
    if stored is None:
        raise MissingIdTemplate()
    return decode_template(decrypt_template(data_key, stored.ciphertext, record_id=stored.id))


def _store_template(session: Session, stay: Stay, live: Template, data_key: bytes) -> None:
    """Keep one encrypted live template per stay and model, replacing an older one."""
    session.execute(
        delete(StoredTemplate).where(StoredTemplate.stay_id == stay.id, StoredTemplate.model_id == live.model_id)
    )
    record_id = str(uuid.uuid4())
    session.add(
        StoredTemplate(
            id=record_id,
            stay_id=stay.id,
            model_id=live.model_id,
            ciphertext=encrypt_template(data_key, encode_template(live), record_id=record_id),
        )
    )


def _record(session: Session, stay: Stay, kiosk: Kiosk, result: Verification, now: dt.datetime) -> None:
    session.add(
        CheckinAttempt(
            session_id=result.session_id,
            stay_id=stay.id,
            kiosk_id=kiosk.id,
            decision=result.decision,
            reason=result.reason,
            model_id=result.model_id or "",
            score=result.score,
            threshold=result.threshold,
            created_at=now,
        )
    )
    audit.append(
        session,
        actor=f"kiosk:{kiosk.id}",
        action="checkin.verify",
        subject=stay.id,
        details={
            "decision": result.decision,
            "reason": result.reason,
            "score": result.score,
            "threshold": result.threshold,
        },
        at=now,
    )
