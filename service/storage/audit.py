"""The append-only, hash-chained audit log.

Each entry's hash is SHA-256 over the canonical JSON of its fields and the
previous entry's hash, so editing or deleting an entry breaks every later link.
Details are flat scalars only: an audit entry can hold a score or a reason,
never a template, a vector or an image. An unkeyed chain can be cut short or
recomputed by whoever can write the database, so the service also signs its
length and head (``service/storage/checkpoints.py``); :func:`verify_chain`
checks the chain against such checkpoints kept elsewhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.orm import Session

from protocol import ChainHead, canonical_json
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
    conn = lock_chain(session)
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


def lock_chain(session: Session) -> Connection:
    """Flush the session and hold the chain's lock until the transaction ends; return its connection.

    On PostgreSQL a transaction-scoped advisory lock (taken again by the same
    transaction, it is a no-op); on SQLite the write lock every transaction
    already holds.
    """
    session.flush()
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK)
    return conn


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


Finding = Literal["intact", "broken", "truncated", "rewritten"]


@dataclass(frozen=True)
class Anchor:
    """A signed chain head to check the log against, and where it came from (for the report)."""

    chain: ChainHead
    source: str


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify_chain` found.

    ``broken``: an entry's link or hash is wrong (an edit or a deletion that
    was not covered up). ``truncated``: the chain is intact but shorter than a
    checkpoint signed. ``rewritten``: the chain is intact but its entry at a
    checkpoint's position is not the one signed (entries edited and every later
    hash recomputed, or entries cut and others appended).
    """

    entries: int
    first_broken: int | None
    problem: str | None = None
    finding: Finding = "intact"
    anchors: int = 0

    @property
    def ok(self) -> bool:
        return self.finding == "intact"


def verify_chain(session: Session, anchors: Sequence[Anchor] = ()) -> ChainReport:
    """Walk the whole log in order; name the first broken entry, or a truncation or rewrite ``anchors`` reveal."""
    at_position: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        at_position.setdefault(anchor.chain.entries, []).append(anchor)
    prev = GENESIS
    count = confirmed = 0
    for anchor in at_position.get(0, ()):
        if anchor.chain.head != GENESIS:
            return _rewritten(0, None, anchor, confirmed)
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).yield_per(1000):
        count += 1
        if entry.prev_hash != prev:
            return ChainReport(count, entry.id, "does not link to the entry before it", "broken")
        if entry_hash(entry) != entry.hash:
            return ChainReport(count, entry.id, "content does not match its hash", "broken")
        for anchor in at_position.get(count, ()):
            if anchor.chain.head != entry.hash:
                return _rewritten(count, entry.id, anchor, confirmed)
        if count in at_position:
            confirmed = count
        prev = entry.hash
    longest = max(anchors, key=lambda a: a.chain.entries, default=None)
    if longest is not None and longest.chain.entries > count:
        problem = (
            f"truncated: the log holds {count} entries, {longest.source} signed {longest.chain.entries}; "
            f"{longest.chain.entries - count} entries are missing after entry {count}"
        )
        return ChainReport(count, None, problem, "truncated", len(anchors))
    return ChainReport(count, None, anchors=len(anchors))


def _rewritten(position: int, entry_id: int | None, anchor: Anchor, confirmed: int) -> ChainReport:
    problem = (
        f"rewritten: entry {position} of the log is not the one {anchor.source} signed; "
        f"what changed lies after entry {confirmed} (the last one a checkpoint confirms) "
        f"and at or before entry {position}"
    )
    return ChainReport(position, entry_id, problem, "rewritten")


def _check_details(details: Mapping[str, Scalar]) -> dict[str, Scalar]:
    for key, value in details.items():
        if not isinstance(value, str | int | float | bool | type(None)):
            raise TypeError(f"audit detail {key!r} must be a scalar, not {type(value).__name__}")
        if isinstance(value, str) and len(value) > MAX_DETAIL_LENGTH:
            raise ValueError(f"audit detail {key!r} is too long")
    return dict(details)
