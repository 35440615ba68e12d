"""The service's tables (SQLAlchemy 2 declarative). Migrations live in ``service/storage/migrations``.

No table holds a face image. Templates are stored only as AES-GCM ciphertext
under a per-stay data key that needs the guest's stay secret (``protocol.vault``).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Stay(Base):
    """A reservation and, once the guest arrives, their stay."""

    __tablename__ = "stays"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    guest_name: Mapped[str] = mapped_column(String(200))
    arrival: Mapped[dt.date] = mapped_column(Date)
    departure: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="reserved")
    secret_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    checked_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    checked_out_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    unlocked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class StayKey(Base):
    """A stay's template key seed, wrapped under a key-encryption key. Deleted at checkout."""

    __tablename__ = "stay_keys"

    stay_id: Mapped[str] = mapped_column(ForeignKey("stays.id"), primary_key=True)
    kek_id: Mapped[str] = mapped_column(String(16))
    wrapped_seed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoredTemplate(Base):
    """A live template kept for re-verification during the stay (ciphertext only)."""

    __tablename__ = "templates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    stay_id: Mapped[str] = mapped_column(ForeignKey("stays.id"), index=True)
    model_id: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Kiosk(Base):
    __tablename__ = "kiosks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str | None] = mapped_column(String(16))  # last reported: ready or out-of-order
    last_error: Mapped[str | None] = mapped_column(String(64))  # the last out-of-order error code
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class EnrolmentCode(Base):
    """A one-time code with which a kiosk registers its public key (stored hashed)."""

    __tablename__ = "enrolment_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kiosk_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    kiosk_id: Mapped[str | None] = mapped_column(String(36))


class CheckinSession(Base):
    """One attempt window at a kiosk: the nonce the envelope must carry, used once."""

    __tablename__ = "checkin_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    stay_id: Mapped[str] = mapped_column(ForeignKey("stays.id"), index=True)
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("kiosks.id"))
    nonce: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    challenge: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    # What the kiosk opened the session for: "check-in", or "reverify" (a checked-in guest, no ID)
    purpose: Mapped[str] = mapped_column(String(16), default="check-in", server_default="check-in")
    # The guest's answer to the consent notice on the kiosk (``service/checkin/consent.py``): accepted or refused,
    # the notice version shown and when. Verification needs ``accepted``.
    consent: Mapped[str | None] = mapped_column(String(8))
    consent_version: Mapped[int | None] = mapped_column(Integer)
    consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CheckinAttempt(Base):
    """The outcome of one verification: decision, reason, score and threshold. Never a template."""

    __tablename__ = "checkin_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(36))
    stay_id: Mapped[str] = mapped_column(ForeignKey("stays.id"), index=True)
    kiosk_id: Mapped[str] = mapped_column(String(36))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    # "check-in" (against the ID template, or a staff override) or "reverify" (a checked-in guest against the
    # stay's stored template, e.g. for a new key card)
    kind: Mapped[str] = mapped_column(String(16), default="check-in", server_default="check-in")
    model_id: Mapped[str] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RequestNonce(Base):
    """Replay cache of signed kiosk requests, kept for the freshness window."""

    __tablename__ = "request_nonces"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class Integration(Base):
    """A PMS integration and the SHA-256 of its API key."""

    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebhookEndpoint(Base):
    """A URL an admin registered for signed events (``service/webhooks.py``); its secret sealed, its last status."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(200))  # the Standard Webhooks secret, sealed (never in clear)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[str | None] = mapped_column(String(64))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebhookMessage(Base):
    """One event for one endpoint: written in the transaction of the change it reports, delivered from here."""

    __tablename__ = "webhook_outbox"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the webhook-id header: msg_<32 hex>
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)  # the JSON body, exactly as signed and sent
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[str | None] = mapped_column(String(64))


class AuditEntry(Base):
    """An append-only, hash-chained record of an action. Holds no biometric data."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditCheckpoint(Base):
    """A signed checkpoint of the audit chain (``protocol.checkpoint``): its length and head when written.

    ``last_id`` is the id of the chain's last entry then, so the next
    checkpoint counts only the entries after it; ``document`` is the signed
    JSON as exported.
    """

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entries: Mapped[int] = mapped_column(Integer)
    last_id: Mapped[int] = mapped_column(Integer)
    head: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    document: Mapped[str] = mapped_column(Text)


class PropertySetting(Base):
    """One section of the property's settings (``service/property.py``) as validated JSON."""

    __tablename__ = "property_settings"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_audit_log_subject", AuditEntry.subject)


class StaffAccount(Base):
    """A front-desk panel account (``service/panel``). The password is an argon2id hash."""

    __tablename__ = "staff"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    # Sealed with AES-GCM under the staff-secret key, bound to the account id (service/keyring/staff_secrets.py).
    totp_secret: Mapped[str | None] = mapped_column(String(160))
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str] = mapped_column(String(8), default="en")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    # Set by an admin's password reset: the temporary password only opens the password-change page.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LoginFailure(Base):
    """A failed panel login, counted against its source address or the browser's device cookie (a SHA-256 of either),
    for sign-in throttling (``service/panel/accounts.py``)."""

    __tablename__ = "staff_login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
