"""The append-only, hash-chained audit log.

Each entry's hash is SHA-256 over the canonical JSON of its fields and the
previous entry's hash, so editing or deleting an entry breaks every later link.
Details are flat scalars only: an audit entry can hold a score or a reason,
never a template, a vector or an image.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from protocol import canonical_json
from service.models import AuditEntry, utcnow

GENESIS = "0" * 64
Scalar = str | int | float | bool | None
_ADVISORY_LOCK_KEY = 0x4C455448  # "LETH": serialises appends on PostgreSQL
MAX_DETAIL_LENGTH = 200


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str | None = None,
    details: Mapping[str, Scalar] | None = None,
    at: dt.datetime | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction and return it."""
    clean = _check_details(details or {})
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
    last = session.scalars(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    entry = AuditEntry(
        at=at or utcnow(),
        actor=actor,
        action=action,
        subject=subject,
        details=json.dumps(clean, sort_keys=True, separators=(",", ":")),
        prev_hash=last or GENESIS,
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class Pending:
    """One entry for :func:`append_many`."""

    actor: str
    action: str
    subject: str | None = None
    details: Mapping[str, Scalar] | None = None


def append_many(session: Session, pending: list[Pending], *, at: dt.datetime | None = None) -> int:
    """Append several entries in one go (one lookup of the chain's end); returns how many."""
    if not pending:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
    prev = session.scalars(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first() or GENESIS
    when = at or utcnow()
    rows = []
    for item in pending:
        entry = AuditEntry(
            at=when,
            actor=item.actor,
            action=item.action,
            subject=item.subject,
            details=json.dumps(_check_details(item.details or {}), sort_keys=True, separators=(",", ":")),
            prev_hash=prev,
        )
        entry.hash = prev = entry_hash(entry)
        rows.append(entry)
    session.add_all(rows)
    session.flush()
    return len(rows)


def entry_hash(entry: AuditEntry) -> str:
    body = {
        "at": entry.at.astimezone(dt.UTC).isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "details": entry.details,
        "prev": entry.prev_hash,
    }
    return hashlib.sha256(b"lethe/v1 audit\x00" + canonical_json(body)).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    entries: int
    first_broken: int | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_broken is None


def verify_chain(session: Session) -> ChainReport:
    """Walk the whole log in order and name the first entry whose link or hash is wrong."""
    prev = GENESIS
    count = 0
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).yield_per(1000):
        count += 1
        if entry.prev_hash != prev:
            return ChainReport(count, entry.id, "does not link to the entry before it")
        if entry_hash(entry) != entry.hash:
            return ChainReport(count, entry.id, "content does not match its hash")
        prev = entry.hash
    return ChainReport(count, None)


def _check_details(details: Mapping[str, Scalar]) -> dict[str, Scalar]:
    for key, value in details.items():
        if not isinstance(value, str | int | float | bool | type(None)):
            raise TypeError(f"audit detail {key!r} must be a scalar, not {type(value).__name__}")
        if isinstance(value, str) and len(value) > MAX_DETAIL_LENGTH:
            raise ValueError(f"audit detail {key!r} is too long")
    return dict(details)
