"""The verification of a sealed envelope against its check-in session (``POST /api/v1/verify``).

``verify`` authenticates the kiosk's envelope, checks the session nonce and the
guest's recorded consent (``service/checkin/consent.py``), opens the payload in memory
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

from sqlalchemy import bindparam, delete, insert, select, update
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
from service import property as prop
from service import webhooks
from service.checkin import liveness, lockout
from service.checkin.consent import REFUSED_STATUS
from service.checkin.kiosks import check_fresh, require_active
from service.checkin.matcher import compare
from service.errors import (
    BadRequest,
    BookingSecretMismatch,
    ConsentRefused,
    ConsentRequired,
    InvalidEnvelopeError,
    LetheError,
    MissingIdTemplate,
    ReplayedEnvelope,
    SessionExpired,
    StayNotActive,
    StayNotCheckedIn,
    UnknownSession,
)
from service.keyring import Keyring
from service.stays.reservations import ACTIVE
from service.storage import audit
from service.storage.db import Database
from service.storage.tables import (
    Base,
    CheckinAttempt,
    CheckinSession,
    Kiosk,
    PropertySetting,
    Stay,
    StayKey,
    StoredTemplate,
    UTCDateTime,
)

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
    first_name: str | None = None  # accepted only: for the signing kiosk's welcome
    kind: str = "check-in"  # or "reverify": a checked-in guest compared with the stay's stored template

    def as_json(self) -> dict[str, object]:
        answer: dict[str, object] = {
            "session": self.session_id,
            "kind": self.kind,
            "decision": self.decision,
            "reason": self.reason,
            "model": self.model_id,
            "score": self.score,
            "threshold": self.threshold,
        }
        if self.first_name is not None:
            answer["first_name"] = self.first_name
        return answer


def first_name(guest_name: str) -> str:
    """The name the kiosk's welcome uses: the first word of the reservation's name (all of it when one word)."""
    words = guest_name.split()
    return words[0] if words else guest_name


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
            rows: Sequence[Any] = (
                session.connection()
                .execute(_READ, {"kiosk": str(header.kiosk_id), "session": str(header.session_id)})
                .all()
            )
        read = rows[0] if rows else None
        require_active(None if read is None else read.kiosk_status)
        assert read is not None
        try:
            payload_bytes = open_envelope(
                envelope, device_key=_device_key(read.public_key), recipient_keys=keyring.hpke
            )
            payload = decode_payload(payload_bytes)
        except InvalidEnvelope as exc:
            log.info("envelope from kiosk %s refused: %s", read.kiosk_id, exc.reason)
            raise InvalidEnvelopeError() from None
        if limit is not None:
            limit("kiosk", read.kiosk_id)
        check_fresh(header.timestamp_ms, now, skew_s)
        _check_session(read, header.nonce, now)
        if read.stay_status not in ACTIVE:
            raise StayNotActive()
        lockout.check_not_locked(read.locked_at)
        # No ID template: a re-verification of a guest already checked in, against the stay's stored template.
        kind = "check-in" if payload.id_template is not None else "reverify"
        if read.purpose == "reverify" and kind != "reverify":
            raise BadRequest("a re-verification session's envelope carries no ID template")
        if kind == "reverify" and read.stay_status != "checked_in":
            raise StayNotCheckedIn()
        session_id = str(header.session_id)
        new_template: dict[str, Any] | None = None
        policy = prop.from_document(prop.Liveness, read.liveness)
        if secret_fingerprint(payload.stay_secret) != read.secret_fingerprint:
            result = Verification(
                session_id, "rejected", "booking-secret-mismatch", problem=BookingSecretMismatch(), kind=kind
            )
        elif (
            failure := liveness.failure(policy, nonce=read.nonce, challenge=read.challenge, evidence=payload.liveness)
        ) is not None:
            log.info("check-in session %s: liveness failed: %s", session_id, failure)
            result = Verification(session_id, "rejected", "liveness-failed", kind=kind)
        else:
            if read.kek_id is None:
                raise StayNotActive()
            data_key = derive_data_key(
                unwrap_key_seed(keyring.kek(read.kek_id), read.wrapped_seed, stay_id=read.stay_id),
                payload.stay_secret,
                stay_id=read.stay_id,
            )
            reference = payload.id_template or _stored_template(rows, data_key, payload.live.model_id)
            target_fmr = prop.from_document(prop.Matching, read.matching).target_fmr
            match = compare(payload.live, reference, manifest, target_fmr)
            result = Verification(
                session_id,
                "accepted" if match.is_match else "rejected",
                "match" if match.is_match else "no-match",
                match.model_id,
                match.score,
                match.threshold,
                first_name=first_name(read.guest_name) if match.is_match else None,
                kind=kind,
            )
            if match.is_match:
                record_id = str(uuid.uuid4())
                new_template = {
                    "id": record_id,
                    "stay_id": read.stay_id,
                    "model_id": payload.live.model_id,
                    "ciphertext": encrypt_template(data_key, encode_template(payload.live), record_id=record_id),
                    "created_at": now,
                }
        with db.write(session):
            _write(session, read, result, payload.live.model_id, new_template, now)
    return result


# The verification's one read, outside the write transaction: the kiosk, and (outer joins, so a
# missing row still names the kiosk) the session, its stay, the stay's key and stored templates,
# and the property's liveness policy and matching (operating point) documents. Core columns, not
# ORM objects: only what is used.
_READ = (
    select(
        Kiosk.id.label("kiosk_id"),
        Kiosk.status.label("kiosk_status"),
        Kiosk.public_key,
        Kiosk.last_seen_at,
        Kiosk.name.label("kiosk_name"),
        CheckinSession.stay_id,
        CheckinSession.nonce,
        CheckinSession.status.label("session_status"),
        CheckinSession.expires_at,
        CheckinSession.challenge,
        CheckinSession.consent,
        CheckinSession.purpose,
        Stay.status.label("stay_status"),
        Stay.guest_name,
        Stay.reference,
        Stay.locked_at,
        Stay.secret_fingerprint,
        StayKey.kek_id,
        StayKey.wrapped_seed,
        StoredTemplate.id.label("template_id"),
        StoredTemplate.model_id.label("template_model_id"),
        StoredTemplate.ciphertext,
        StoredTemplate.created_at.label("template_created_at"),
        select(PropertySetting.value)
        .where(PropertySetting.key == prop.section_key(prop.Liveness))
        .scalar_subquery()
        .label("liveness"),
        select(PropertySetting.value)
        .where(PropertySetting.key == prop.section_key(prop.Matching))
        .scalar_subquery()
        .label("matching"),
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


def _check_session(read: Any, nonce: bytes, now: dt.datetime) -> None:
    if read.stay_id is None:  # no such session, or another kiosk's (the read joins only this kiosk's)
        raise UnknownSession()
    if not secrets.compare_digest(read.nonce, nonce):
        log.info("envelope from kiosk %s refused: nonce does not match session", read.kiosk_id)
        raise InvalidEnvelopeError()
    if read.session_status == REFUSED_STATUS:
        raise ConsentRefused()
    if read.session_status != "open":
        raise ReplayedEnvelope()
    if read.expires_at <= now:
        raise SessionExpired()
    if read.consent != "accepted":
        raise ConsentRequired()


def _stored_template(rows: Sequence[Any], data_key: bytes, model_id: str) -> Template:
    """The newest stored template of ``model_id`` among the read's rows, decrypted."""
    stored = [r for r in rows if r.template_id is not None and r.template_model_id == model_id]
    if not stored:
        raise MissingIdTemplate()
    newest = max(stored, key=lambda r: r.template_created_at)
    return decode_template(decrypt_template(data_key, newest.ciphertext, record_id=newest.template_id))


# The write transaction's statements, on the tables (Core: no ORM objects to load or flush).
_SESSIONS, _STAYS, _TEMPLATES, _ATTEMPTS, _KIOSKS = (
    Base.metadata.tables[model.__tablename__] for model in (CheckinSession, Stay, StoredTemplate, CheckinAttempt, Kiosk)
)
_NOW = bindparam("now", type_=UTCDateTime())
_CONSUME = (
    update(_SESSIONS)
    .where(CheckinSession.id == bindparam("session"), CheckinSession.status == "open")
    .values(status="used", used_at=_NOW)
)
_SESSION_STATUS = select(CheckinSession.status).where(CheckinSession.id == bindparam("session"))
_RECHECK = (
    select(
        Stay.status,
        Stay.locked_at,
        Stay.checked_in_at,
        select(Kiosk.status).where(Kiosk.id == bindparam("kiosk")).scalar_subquery().label("kiosk_status"),
    )
    .where(Stay.id == bindparam("stay"))
    .with_for_update(of=Stay)
)
_DROP_TEMPLATES = delete(_TEMPLATES).where(
    StoredTemplate.stay_id == bindparam("stay"), StoredTemplate.model_id == bindparam("model")
)
_CHECK_IN = (
    update(_STAYS)
    .where(Stay.id == bindparam("stay"))
    .values(status="checked_in", checked_in_at=bindparam("checked_in_at", type_=UTCDateTime()))
)
_STORE_TEMPLATE = insert(_TEMPLATES)
_RECORD_ATTEMPT = insert(_ATTEMPTS).inline()  # no RETURNING of the new id: nothing reads it
_SEEN = update(_KIOSKS).where(Kiosk.id == bindparam("kiosk")).values(last_seen_at=_NOW)


def _write(
    session: Session,
    read: Any,
    result: Verification,
    model_id: str,
    new_template: dict[str, Any] | None,
    now: dt.datetime,
) -> None:
    """The verification's write transaction: consume, re-check, store, record, audit.

    The session is consumed only if still open (a concurrent replay loses here),
    and the kiosk's and the stay's state is read again under the write lock (the
    stay's row locked on PostgreSQL), so a suspension, checkout or lockout that
    committed after the first read still wins. The audit entries come last,
    after every row this transaction changes (the chain's lock is the last one
    taken).
    """
    conn = session.connection()
    if conn.execute(_CONSUME, {"session": result.session_id, "now": now}).rowcount != 1:
        status = conn.execute(_SESSION_STATUS, {"session": result.session_id}).scalar()
        raise ConsentRefused() if status == REFUSED_STATUS else ReplayedEnvelope()
    current = conn.execute(_RECHECK, {"stay": read.stay_id, "kiosk": read.kiosk_id}).one()
    require_active(current.kiosk_status)
    if current.status not in ACTIVE:
        raise StayNotActive()
    lockout.check_not_locked(current.locked_at)
    if result.kind == "reverify" and current.status != "checked_in":
        raise StayNotCheckedIn()
    actor = f"kiosk:{read.kiosk_id}"
    if new_template is not None:
        conn.execute(_DROP_TEMPLATES, {"stay": read.stay_id, "model": model_id})
        conn.execute(_STORE_TEMPLATE, new_template)
        event = {"booking_reference": read.reference, "kiosk": webhooks.kiosk_ref(read.kiosk_id, read.kiosk_name)}
        if current.status != "checked_in" or current.checked_in_at is None:  # a re-verification changes nothing here
            conn.execute(_CHECK_IN, {"stay": read.stay_id, "checked_in_at": current.checked_in_at or now})
            webhooks.emit(session, "stay.checked_in", event | {"reason": "match"}, now=now)
        else:  # accepted again while checked in (a re-verification, or a second check-in with the ID): a new card
            webhooks.emit(session, "stay.reverified", event, now=now)
    conn.execute(
        _RECORD_ATTEMPT,
        {
            "session_id": result.session_id,
            "stay_id": read.stay_id,
            "kiosk_id": read.kiosk_id,
            "decision": result.decision,
            "reason": result.reason,
            "kind": result.kind,
            "model_id": result.model_id or "",
            "score": result.score,
            "threshold": result.threshold,
            "created_at": now,
        },
    )
    if read.last_seen_at is None or now - read.last_seen_at > LAST_SEEN_RESOLUTION:
        conn.execute(_SEEN, {"kiosk": read.kiosk_id, "now": now})
    entries = [
        audit.Entry(
            actor=actor,
            action="checkin.reverify" if result.kind == "reverify" else "checkin.verify",
            subject=read.stay_id,
            details={
                "decision": result.decision,
                "reason": result.reason,
                "score": result.score,
                "threshold": result.threshold,
            },
        )
    ]
    if result.decision == "rejected" and (lock := lockout.note_failure(session, read.stay_id, actor=actor, now=now)):
        entries.append(lock)
    audit.append(session, *entries, at=now)
