"""The check-in: open a session, then verify a sealed envelope against it.

``verify`` authenticates the kiosk's envelope, checks the session nonce and the
guest's recorded consent (``service/consent.py``), opens the payload in memory
and compares 1:1 after one read (one SELECT: on SQLite outside the write lock),
then, in one short write transaction of Core statements, consumes the session
(only if still open: a refusal recorded meanwhile wins), re-reads the kiosk's
and the stay's state under the write lock, stores the accepted live template
encrypted for the stay, and records the attempt, the lockout accounting and
the audit entry. Templates exist in clear only in local variables of this
module.
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
from service import audit, liveness, lockout
from service import property as prop
from service.consent import REFUSED_STATUS
from service.db import Database
from service.driver import DriverConnection
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
    first_name: str | None = None  # accepted only: for the signing kiosk's welcome

    def as_json(self) -> dict[str, object]:
        answer: dict[str, object] = {
            "session": self.session_id,
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


def open_session(session: Session, kiosk: Kiosk, *, reference: str, now: dt.datetime, ttl_s: int) -> CheckinSession:
    """Open a check-in session for the stay with booking ``reference``; returns it with its nonce."""
    stay = stay_by_reference(session, reference)
    if stay.status not in ACTIVE:
        raise StayNotActive()
    lockout.check_not_locked(stay)
    policy = prop.load(session, prop.Liveness)
    checkin = CheckinSession(
        id=str(uuid.uuid4()),
        stay_id=stay.id,
        kiosk_id=kiosk.id,
        nonce=secrets.token_bytes(32),
        expires_at=now + dt.timedelta(seconds=ttl_s),
        challenge=liveness.choose_challenge(policy),
    )
    session.add(checkin)
    # A session under the try-out policy (passive liveness only) says so in the audit, for every check-in.
    details = None if policy.require_challenge else {"liveness_policy": policy.name}
    audit.append(session, actor=f"kiosk:{kiosk.id}", action="checkin.session.open", subject=stay.id, details=details)
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
    with db.connect() as conn:
        rows: Sequence[Any] = conn.run(_READ, {"kiosk": str(header.kiosk_id), "session": str(header.session_id)}).all()
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
        stay = lockout.StayState(read.stay_id, read.locked_at, read.unlocked_at)
        lockout.check_not_locked(stay)
        session_id = str(header.session_id)
        new_template: tuple[str, bytes] | None = None
        policy = prop.from_document(prop.Liveness, read.liveness)
        if secret_fingerprint(payload.stay_secret) != read.secret_fingerprint:
            result = Verification(session_id, "rejected", "booking-secret-mismatch", problem=BookingSecretMismatch())
        elif (
            failure := liveness.failure(policy, nonce=read.nonce, challenge=read.challenge, evidence=payload.liveness)
        ) is not None:
            log.info("check-in session %s: liveness failed: %s", session_id, failure)
            result = Verification(session_id, "rejected", "liveness-failed")
        else:
            if read.kek_id is None:
                raise StayNotActive()
            data_key = derive_data_key(
                unwrap_key_seed(keyring.kek(read.kek_id), read.wrapped_seed, stay_id=stay.id),
                payload.stay_secret,
                stay_id=stay.id,
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
            )
            if match.is_match:
                record_id = str(uuid.uuid4())
                ciphertext = encrypt_template(data_key, encode_template(payload.live), record_id=record_id)
                new_template = (record_id, ciphertext)
        with db.write(conn):
            _write(conn, read, result, payload.live.model_id, new_template, now, lock_chain=not db.is_sqlite)
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
# and the property's liveness policy and matching (operating point) documents.
_READ = (
    select(
        Kiosk.id.label("kiosk_id"),
        Kiosk.status.label("kiosk_status"),
        Kiosk.public_key,
        Kiosk.last_seen_at,
        CheckinSession.stay_id,
        CheckinSession.nonce,
        CheckinSession.status.label("session_status"),
        CheckinSession.expires_at,
        CheckinSession.challenge,
        CheckinSession.consent,
        Stay.status.label("stay_status"),
        Stay.guest_name,
        Stay.locked_at,
        Stay.unlocked_at,
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


# The write transaction's statements, built once and compiled once per dialect (service.driver).
_NOW = bindparam("now", type_=UTCDateTime())
_CONSUME = (
    update(CheckinSession)
    .where(CheckinSession.id == bindparam("session"), CheckinSession.status == "open")
    .values(status="used", used_at=_NOW)
)
_SESSION_STATUS = select(CheckinSession.status).where(CheckinSession.id == bindparam("session"))
_RECHECK = (
    select(
        Stay.status,
        Stay.locked_at,
        Stay.unlocked_at,
        Stay.checked_in_at,
        select(Kiosk.status).where(Kiosk.id == bindparam("kiosk")).scalar_subquery().label("kiosk_status"),
    )
    .where(Stay.id == bindparam("stay"))
    .with_for_update(of=Stay)
)
_DROP_TEMPLATES = delete(StoredTemplate).where(
    StoredTemplate.stay_id == bindparam("stay"), StoredTemplate.model_id == bindparam("model")
)
_CHECK_IN = (
    update(Stay)
    .where(Stay.id == bindparam("stay"))
    .values(status="checked_in", checked_in_at=bindparam("checked_in_at", type_=UTCDateTime()))
)
_STORE_TEMPLATE = (
    insert(StoredTemplate)
    .values(
        id=bindparam("id"),
        stay_id=bindparam("stay_id"),
        model_id=bindparam("model_id"),
        ciphertext=bindparam("ciphertext", type_=StoredTemplate.__table__.c.ciphertext.type),
        created_at=_NOW,
    )
    .inline()
)
_RECORD_ATTEMPT = (
    insert(CheckinAttempt)
    .values(
        {
            name: bindparam(name, type_=CheckinAttempt.__table__.c[name].type)
            for name in ("session_id", "stay_id", "kiosk_id", "decision", "reason", "model_id", "score", "threshold")
        }
        | {"created_at": _NOW}
    )
    .inline()  # no RETURNING of the new id: nothing reads it
)
_SEEN = update(Kiosk).where(Kiosk.id == bindparam("kiosk")).values(last_seen_at=_NOW)


def _write(
    conn: DriverConnection,
    read: Any,
    result: Verification,
    model_id: str,
    new_template: tuple[str, bytes] | None,
    now: dt.datetime,
    *,
    lock_chain: bool,
) -> None:
    """The verification's write transaction: consume, re-check, store, record, audit.

    First every read the writes depend on — the session consumed only if still
    open (a concurrent replay loses here), the kiosk's and the stay's state read
    again under the write lock (the stay's row locked on PostgreSQL, so a
    suspension, checkout or lockout that committed after the first read still
    wins), the stay's recent failures when the attempt was rejected, the audit
    chain's end (under the chain lock on PostgreSQL) — then every write.
    """
    rejected = result.decision == "rejected"
    consumed = conn.run(_CONSUME, {"session": result.session_id, "now": now})
    current = conn.run(_RECHECK, {"stay": read.stay_id, "kiosk": read.kiosk_id})
    failures = (
        conn.run(lockout.FAILURES, {"stay": read.stay_id, "since": lockout.window_start(now)}) if rejected else None
    )
    if lock_chain:
        conn.run(audit.LOCK)
    head = conn.run(audit.LAST_HASH)
    if consumed.rowcount != 1:
        status = conn.run(_SESSION_STATUS, {"session": result.session_id}).scalar()
        raise ConsentRefused() if status == REFUSED_STATUS else ReplayedEnvelope()
    state = current.first()
    require_active(state.kiosk_status)
    if state.status not in ACTIVE:
        raise StayNotActive()
    stay = lockout.StayState(read.stay_id, state.locked_at, state.unlocked_at)
    lockout.check_not_locked(stay)
    actor = f"kiosk:{read.kiosk_id}"
    if new_template is not None:
        record_id, ciphertext = new_template
        conn.run(_DROP_TEMPLATES, {"stay": stay.id, "model": model_id})
        conn.run(
            _STORE_TEMPLATE,
            {"id": record_id, "stay_id": stay.id, "model_id": model_id, "ciphertext": ciphertext, "now": now},
        )
        if state.status != "checked_in" or state.checked_in_at is None:  # a re-verification changes nothing here
            conn.run(_CHECK_IN, {"stay": stay.id, "checked_in_at": state.checked_in_at or now})
    conn.run(
        _RECORD_ATTEMPT,
        {
            "session_id": result.session_id,
            "stay_id": stay.id,
            "kiosk_id": read.kiosk_id,
            "decision": result.decision,
            "reason": result.reason,
            "model_id": result.model_id or "",
            "score": result.score,
            "threshold": result.threshold,
            "now": now,
        },
    )
    entries = [
        audit.Pending(
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
    if failures is not None and (lock := lockout.lock_at_limit(stay, failures.scalar() + 1, actor=actor)) is not None:
        conn.run(lockout.LOCK, {"stay": stay.id, "now": now})
        entries.append(lock)
    for row in audit.chain_rows(entries, prev=head.scalar() or audit.GENESIS, at=now):
        conn.run(audit.INSERT, row)
    if read.last_seen_at is None or now - read.last_seen_at > LAST_SEEN_RESOLUTION:
        conn.run(_SEEN, {"kiosk": read.kiosk_id, "now": now})
