"""The check-in: open a session, then verify a sealed envelope against it.

``verify`` authenticates the kiosk's envelope, checks the session nonce and the
guest's recorded consent (``service/consent.py``), opens the payload in memory
and compares 1:1 after one read (one SELECT, in a transaction of its own: on
SQLite it neither takes nor waits for the write lock), then, in one short
write transaction, consumes the session (only if still open: a refusal or a
replay committed meanwhile wins), reads the kiosk and the stay again under the
write lock, stores the accepted live template encrypted for the stay, and
records the attempt, the lockout accounting and the audit entry. Templates
exist in clear only in local variables of this module.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from models.registry import Manifest
from protocol import (
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
from service import property as prop
from service.consent import REFUSED_STATUS
from service.db import Database
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
from service.kiosks import check_fresh, require_active
from service.matcher import compare
from service.models import (
    CheckinAttempt,
    CheckinSession,
    Kiosk,
    PropertySetting,
    Stay,
    StayKey,
    StoredTemplate,
    UTCDateTime,
)
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
    audit.append(session, audit.Entry(actor=f"kiosk:{kiosk.id}", action="checkin.session.open", subject=stay.id))
    return checkin


def verify(
    db: Database,
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
    with db.session() as session:
        with db.read(session):
            rows: Sequence[Any] = session.execute(
                _READ, {"kiosk": str(header.kiosk_id), "session": str(header.session_id)}
            ).all()
        kiosk = require_active(rows[0].Kiosk if rows else None)
        try:
            payload_bytes = open_envelope(
                envelope, device_key=_device_key(kiosk.public_key), recipient_keys=keyring.hpke
            )
            payload = decode_payload(payload_bytes)
        except InvalidEnvelope as exc:
            log.info("envelope from kiosk %s refused: %s", kiosk.id, exc.reason)
            raise InvalidEnvelopeError() from None
        if limit is not None:
            limit("kiosk", kiosk.id)
        check_fresh(header.timestamp_ms, now, skew_s)
        checkin, stay, key = rows[0].CheckinSession, rows[0].Stay, rows[0].StayKey
        _check_session(checkin, kiosk, header.nonce, now)
        if stay.status not in ACTIVE:
            raise StayNotActive()
        lockout.check_not_locked(stay)
        session_id = str(header.session_id)
        new_template: StoredTemplate | None = None
        policy = prop.from_document(prop.Liveness, rows[0].liveness)
        if secret_fingerprint(payload.stay_secret) != stay.secret_fingerprint:
            result = Verification(session_id, "rejected", "booking-secret-mismatch", problem=BookingSecretMismatch())
        elif (
            failure := liveness.failure(
                policy, nonce=checkin.nonce, challenge=checkin.challenge, evidence=payload.liveness
            )
        ) is not None:
            log.info("check-in session %s: liveness failed: %s", session_id, failure)
            result = Verification(session_id, "rejected", "liveness-failed")
        else:
            if key is None:
                raise StayNotActive()
            data_key = derive_data_key(
                unwrap_key_seed(keyring.kek(key.kek_id), key.wrapped_seed, stay_id=stay.id),
                payload.stay_secret,
                stay_id=stay.id,
            )
            reference = payload.id_template or _stored_template(rows, data_key, payload.live.model_id)
            match = compare(payload.live, reference, manifest)
            result = Verification(
                session_id,
                "accepted" if match.is_match else "rejected",
                "match" if match.is_match else "no-match",
                match.model_id,
                match.score,
                match.threshold,
            )
            if match.is_match:
                record_id = str(uuid.uuid4())
                new_template = StoredTemplate(
                    id=record_id,
                    stay_id=stay.id,
                    model_id=payload.live.model_id,
                    ciphertext=encrypt_template(data_key, encode_template(payload.live), record_id=record_id),
                    created_at=now,
                )
        with db.write(session):
            _write(session, kiosk, stay, result, payload.live.model_id, new_template, now)
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


# The verification's one read, outside the write transaction: the kiosk, and (outer joins, so a
# missing row still names the kiosk) the session, its stay, the stay's key and stored templates,
# and the property's liveness policy document.
_READ = (
    select(
        Kiosk,
        CheckinSession,
        Stay,
        StayKey,
        StoredTemplate,
        select(PropertySetting.value)
        .where(PropertySetting.key == prop.section_key(prop.Liveness))
        .scalar_subquery()
        .label("liveness"),
    )
    .select_from(Kiosk)
    .outerjoin(  # only this kiosk's session: another kiosk's is "unknown" and its stay is never read
        CheckinSession, (CheckinSession.id == bindparam("session")) & (CheckinSession.kiosk_id == Kiosk.id)
    )
    .outerjoin(Stay, Stay.id == CheckinSession.stay_id)
    .outerjoin(StayKey, StayKey.stay_id == CheckinSession.stay_id)
    .outerjoin(StoredTemplate, StoredTemplate.stay_id == CheckinSession.stay_id)
    .where(Kiosk.id == bindparam("kiosk"))
)


@functools.lru_cache(maxsize=1024)
def _device_key(raw: bytes) -> VerifyKey:
    return VerifyKey(raw)


def _check_session(checkin: CheckinSession | None, kiosk: Kiosk, nonce: bytes, now: dt.datetime) -> None:
    if checkin is None:  # no such session, or another kiosk's (the read joins only this kiosk's)
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


def _stored_template(rows: Sequence[Any], data_key: bytes, model_id: str) -> Template:
    """The newest stored template of ``model_id`` among the read's rows, decrypted."""
    stored = [r.StoredTemplate for r in rows if r.StoredTemplate is not None and r.StoredTemplate.model_id == model_id]
    if not stored:
        raise MissingIdTemplate()
    newest = max(stored, key=lambda t: t.created_at)
    return decode_template(decrypt_template(data_key, newest.ciphertext, record_id=newest.id))


# Statements of the write transaction that run as written (no objects loaded or synchronised for them).
_UNSYNCHRONISED = {"synchronize_session": False}
_CONSUME = (
    update(CheckinSession)
    .where(CheckinSession.id == bindparam("session"), CheckinSession.status == "open")
    .values(status="used", used_at=bindparam("now", type_=UTCDateTime()))
    .execution_options(**_UNSYNCHRONISED)
)
_RECHECK = (
    select(Stay, Kiosk)
    .join(Kiosk, Kiosk.id == bindparam("kiosk"))
    .where(Stay.id == bindparam("stay"))
    .with_for_update(of=Stay)
    .execution_options(populate_existing=True)
)
_DROP_TEMPLATES = (
    delete(StoredTemplate)
    .where(StoredTemplate.stay_id == bindparam("stay"), StoredTemplate.model_id == bindparam("model"))
    .execution_options(**_UNSYNCHRONISED)
)


def _write(
    session: Session,
    kiosk: Kiosk,
    stay: Stay,
    result: Verification,
    model_id: str,
    new_template: StoredTemplate | None,
    now: dt.datetime,
) -> None:
    """The verification's write transaction: consume, re-check, store, record, audit.

    The session is consumed only if still open (a concurrent replay loses here),
    and the kiosk and the stay are read again under the write lock (the stay's
    row locked on PostgreSQL), so a suspension, checkout or lockout that
    committed after the first read still wins. The audit entry comes last, after
    every row this transaction changes (the chain's lock is the last one taken).
    """
    if session.execute(_CONSUME, {"session": result.session_id, "now": now}).rowcount != 1:  # type: ignore[attr-defined]
        status = session.scalar(select(CheckinSession.status).where(CheckinSession.id == result.session_id))
        raise ConsentRefused() if status == REFUSED_STATUS else ReplayedEnvelope()
    session.execute(_RECHECK, {"stay": stay.id, "kiosk": kiosk.id}).one()
    require_active(kiosk)
    if stay.status not in ACTIVE:
        raise StayNotActive()
    lockout.check_not_locked(stay)
    actor = f"kiosk:{kiosk.id}"
    if new_template is not None:
        session.execute(_DROP_TEMPLATES, {"stay": stay.id, "model": model_id})
        session.add(new_template)
        if stay.status != "checked_in" or stay.checked_in_at is None:  # a re-verification changes nothing here
            stay.status = "checked_in"
            stay.checked_in_at = stay.checked_in_at or now
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
    if kiosk.last_seen_at is None or now - kiosk.last_seen_at > LAST_SEEN_RESOLUTION:
        kiosk.last_seen_at = now
    entries = [
        audit.Entry(
            actor=actor,
            action="checkin.verify",
            subject=stay.id,
            details={
                "decision": result.decision,
                "reason": result.reason,
                "score": result.score,
                "threshold": result.threshold,
            },
        )
    ]
    if result.decision == "rejected" and (lock := lockout.note_failure(session, stay, actor=actor, now=now)):
        entries.append(lock)
    audit.append(session, *entries, at=now)
