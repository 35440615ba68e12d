"""PMS integrations: named API keys, stored only as their SHA-256; revoked for good when leaked or retired."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import AlreadyExists, InvalidTransition, NotFound, ReasonRequired, Unauthenticated
from service.storage import audit
from service.storage.tables import Integration

KEY_PREFIX = "lethe_pms_"


def _hash_key(key: str) -> str:
    return hashlib.sha256(b"lethe/v1 api-key\x00" + key.encode()).hexdigest()


def create_integration(session: Session, *, name: str, actor: str) -> str:
    """Create integration ``name`` and return its API key (shown once)."""
    if session.scalars(select(Integration.id).where(Integration.name == name)).first() is not None:
        raise AlreadyExists(f"an integration named {name!r} exists")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(Integration(name=name, key_hash=_hash_key(key)))
    audit.append(session, audit.Entry(actor=actor, action="integration.create", details={"name": name}))
    return key


def list_integrations(session: Session) -> list[Integration]:
    """Every integration, oldest first (revoked ones too, with ``revoked_at``)."""
    return list(session.scalars(select(Integration).order_by(Integration.id)))


def revoke_integration(session: Session, *, name: str, actor: str, reason: str, now: dt.datetime) -> Integration:
    """Revoke integration ``name``: its API key is refused from the next request on, for good.

    Raises ``not-found`` for an unknown name and ``invalid-transition`` if it is already revoked.
    """
    if len(reason.strip()) < 5:
        raise ReasonRequired("give a reason of at least 5 characters")
    found = session.scalars(select(Integration).where(Integration.name == name).with_for_update()).first()
    if found is None:
        raise NotFound(f"no integration named {name!r}")
    if found.revoked_at is not None:
        raise InvalidTransition(f"integration {name!r} was revoked at {found.revoked_at.isoformat(timespec='seconds')}")
    found.revoked_at = now
    audit.append(
        session,
        audit.Entry(actor=actor, action="integration.revoke", details={"name": name, "reason": reason.strip()}),
    )
    return found


def authenticate(session: Session, authorization: str | None) -> Integration:
    """Return the integration whose key is in ``Authorization: Bearer <key>``, or raise ``unauthenticated``."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthenticated("send the integration's API key as 'Authorization: Bearer <key>'")
    found = session.scalars(
        select(Integration).where(Integration.key_hash == _hash_key(authorization.removeprefix("Bearer ").strip()))
    ).first()
    if found is None or found.revoked_at is not None:
        raise Unauthenticated("unknown or revoked API key")
    return found
