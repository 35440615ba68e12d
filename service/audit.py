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

from sqlalchemy import Connection, bindparam, func, insert, select
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
    if session.get_bind().dialect.name == "postgresql":  # a statement through the session: pending rows flush first
        session.execute(LOCK)
    last = session.scalars(LAST_HASH).first()
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
    session.flush()
    append_rows(session.connection(), pending, at=at)
    return len(pending)


LAST_HASH = select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
"""The chain's end: the hash of the newest entry (one probe of the primary key)."""
LOCK = select(func.pg_advisory_xact_lock(bindparam("key", _ADVISORY_LOCK_KEY)))
"""PostgreSQL only: the transaction-scoped lock that serialises appends (SQLite's write lock does it there)."""
INSERT = (
    insert(AuditEntry)
    .values(
        {
            name: bindparam(name, type_=AuditEntry.__table__.c[name].type)
            for name in ("at", "actor", "action", "subject", "details", "prev_hash", "hash")
        }
    )
    .inline()  # no RETURNING of the new id: nothing reads it
)


def lock_chain(conn: Connection) -> None:
    """On PostgreSQL, take the transaction-scoped lock that serialises appends."""
    if conn.dialect.name == "postgresql":
        conn.execute(LOCK)


def append_rows(conn: Connection, pending: list[Pending], *, at: dt.datetime | None = None) -> str:
    """Append ``pending`` with Core statements in ``conn``'s transaction (one read of the chain's end, one insert).

    Returns the new last hash.
    """
    lock_chain(conn)
    rows = chain_rows(pending, prev=conn.scalar(LAST_HASH) or GENESIS, at=at or utcnow())
    conn.execute(INSERT, rows)
    return str(rows[-1]["hash"])


def chain_rows(pending: list[Pending], *, prev: str, at: dt.datetime) -> list[dict[str, object]]:
    """The rows of ``pending``, chained after the entry whose hash is ``prev`` (no I/O: the caller inserts them)."""
    rows: list[dict[str, object]] = []
    for item in pending:
        details = json.dumps(_check_details(item.details or {}), sort_keys=True, separators=(",", ":"))
        digest = _hash(at, item.actor, item.action, item.subject, details, prev)
        rows.append(
            {
                "at": at,
                "actor": item.actor,
                "action": item.action,
                "subject": item.subject,
                "details": details,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows


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
