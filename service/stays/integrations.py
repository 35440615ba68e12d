"""PMS integrations: named API keys, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import AlreadyExists, Unauthenticated
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
