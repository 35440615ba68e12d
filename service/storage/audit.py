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

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from protocol import canonical_json
from service.errors import ReasonRequired
from service.storage.tables import AuditEntry, utcnow

GENESIS = "0" * 64
Scalar = str | int | float | bool | None
_ADVISORY_LOCK_KEY = 0x4C455448  # "LETH": serialises appends on PostgreSQL
MAX_DETAIL_LENGTH = 200


def require_reason(reason: str | None) -> str:
    """Return ``reason`` stripped; raise ``reason-required`` when it is blank or too long."""
    text = (reason or "").strip()
    if not text:
        raise ReasonRequired()
    if len(text) > MAX_DETAIL_LENGTH:
        raise ReasonRequired(f"the reason must be at most {MAX_DETAIL_LENGTH} characters")
    return text


@dataclass(frozen=True)
class Entry:
    """One action to record: who did what, to which record, with which flat details."""

    actor: str
    action: str
    subject: str | None = None
    details: Mapping[str, Scalar] | None = None


def append(session: Session, *entries: Entry, at: dt.datetime | None = None) -> None:
    """Append ``entries``, in order and all at time ``at`` (default now), in the caller's transaction.

    The session's pending changes are flushed first, so the chain's lock is
    taken after the rows the transaction has changed so far: on PostgreSQL a
    transaction-scoped advisory lock serialises appends (on SQLite the write
    lock does). Then one read of the chain's end and one INSERT of every entry.
    """
    if not entries:
        return
    session.flush()
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK)
    prev = conn.execute(_LAST_HASH).scalar() or GENESIS
    when = at or utcnow()
    rows: list[dict[str, object]] = []
    for entry in entries:
        details = json.dumps(_check_details(entry.details or {}), sort_keys=True, separators=(",", ":"))
        digest = _hash(when, entry.actor, entry.action, entry.subject, details, prev)
        rows.append(
            {
                "at": when,
                "actor": entry.actor,
                "action": entry.action,
                "subject": entry.subject,
                "details": details,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    conn.execute(_INSERT, rows if len(rows) > 1 else rows[0])  # one row: one INSERT, not an executemany


_TABLE = AuditEntry.metadata.tables[AuditEntry.__tablename__]  # Core statements: no ORM objects made for rows
_LAST_HASH = select(_TABLE.c.hash).order_by(_TABLE.c.id.desc()).limit(1)  # one probe of the primary key
_LOCK = select(func.pg_advisory_xact_lock(_ADVISORY_LOCK_KEY))
_INSERT = insert(_TABLE).inline()  # no RETURNING of the new id: nothing reads it


def entry_hash(entry: AuditEntry) -> str:
    return _hash(entry.at, entry.actor, entry.action, entry.subject, entry.details, entry.prev_hash)


def _hash(at: dt.datetime, actor: str, action: str, subject: str | None, details: str, prev: str) -> str:
    body = {
        "at": at.astimezone(dt.UTC).isoformat(),
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
        "prev": prev,
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
