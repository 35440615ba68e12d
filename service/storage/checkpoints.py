"""Signed checkpoints of the audit chain: written, stored, exported, and read back to verify the chain.

A checkpoint is the receipt key's signature over the chain's length and head
hash (``protocol.checkpoint``). The service writes one with every checkout (and
carries its head in the deletion receipt), on its schedule and on demand
(``lethe audit checkpoint``). Copies kept off the server (``lethe audit
checkpoint export``, or any deletion receipt a guest holds) let
``lethe audit verify --checkpoint FILE`` tell a truncated chain from a
rewritten one; stored copies catch only an attacker who forgets them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from protocol import (
    ChainHead,
    Checkpoint,
    InvalidSignature,
    SigningKey,
    VerifyKey,
    sign_checkpoint,
    verify_checkpoint,
    verify_receipt,
)
from service.storage.audit import GENESIS, Anchor, lock_chain
from service.storage.tables import AuditCheckpoint, AuditEntry, utcnow

EXPORT_TYPE = "lethe.audit-checkpoints"


def chain_head(session: Session) -> tuple[ChainHead, int]:
    """The chain's length and head hash now, and the id of its last entry (0 when empty).

    Counts only the entries after the newest stored checkpoint, so it stays
    cheap as the log grows. Call it after :func:`service.storage.audit.append`
    in the same transaction, or on its own: it takes the chain's lock, so the
    head cannot move while it is read.
    """
    lock_chain(session)
    base = session.execute(
        select(AuditCheckpoint.entries, AuditCheckpoint.last_id).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).first()
    base_entries, base_id = (base.entries, base.last_id) if base else (0, 0)
    added = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.id > base_id)) or 0
    last = session.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    if last is None:
        return ChainHead(0, GENESIS), 0
    return ChainHead(base_entries + added, last.hash), last.id


def record(session: Session, key: SigningKey, *, at: dt.datetime | None = None) -> tuple[ChainHead, dict[str, Any]]:
    """Sign the chain's head now, store the checkpoint in the caller's transaction, return the head and document."""
    head, last_id = chain_head(session)
    when = (at or utcnow()).replace(microsecond=0)
    document = sign_checkpoint(Checkpoint(head, when), key)
    session.add(
        AuditCheckpoint(entries=head.entries, last_id=last_id, head=head.head, at=when, document=json.dumps(document))
    )
    session.flush()
    return head, document


def record_if_moved(session: Session, key: SigningKey) -> dict[str, Any] | None:
    """:func:`record` unless the newest stored checkpoint already signs the chain as it is (the schedule's job)."""
    newest = session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))
    head, _last_id = chain_head(session)
    if newest is not None and newest.entries == head.entries and newest.head == head.head:
        return None
    return record(session, key)[1]


def stored(session: Session, *, newest_only: bool = False) -> list[dict[str, Any]]:
    """The stored checkpoint documents, oldest first (or just the newest)."""
    query = select(AuditCheckpoint.document).order_by(AuditCheckpoint.id.desc() if newest_only else AuditCheckpoint.id)
    if newest_only:
        query = query.limit(1)
    return [json.loads(text) for text in session.scalars(query)]


def export_document(documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The file ``lethe audit checkpoint export`` writes: signed checkpoints, oldest first."""
    return {"type": EXPORT_TYPE, "checkpoints": list(documents)}


def anchors_from(
    data: object, keys: Sequence[VerifyKey], *, source: str, skip_unknown_keys: bool = False
) -> list[Anchor]:
    """The verified chain heads in ``data``: an export, one checkpoint document, or a deletion receipt (version 2).

    Each signature is checked with the one of ``keys`` its ``key_id`` names.
    Raises :class:`~protocol.InvalidSignature` naming what is wrong: a
    checkpoint that does not verify is never used. With ``skip_unknown_keys``
    a checkpoint of an export signed by a key not in ``keys`` (one since
    retired) is left out instead.
    """
    if isinstance(data, dict) and data.get("type") == EXPORT_TYPE and set(data) == {"type", "checkpoints"}:
        items = data["checkpoints"]
        if not isinstance(items, list):
            raise InvalidSignature(f"{source}: checkpoints is not a list")
        known = {k.key_id.hex() for k in keys}
        return [
            _anchor(item, keys, f"{source} #{n}")
            for n, item in enumerate(items, 1)
            if not skip_unknown_keys or not isinstance(item, dict) or item.get("key_id") in known
        ]
    if isinstance(data, dict) and isinstance(data.get("receipt"), dict) and set(data) == {"receipt"}:
        data = data["receipt"]
    return [_anchor(data, keys, source)]


def _anchor(document: object, keys: Sequence[VerifyKey], source: str) -> Anchor:
    if not isinstance(document, dict) or not isinstance(document.get("claims"), dict):
        raise InvalidSignature(f"{source}: not a checkpoint or a deletion receipt")
    key = next((k for k in keys if k.key_id.hex() == document.get("key_id")), None)
    if key is None:
        raise InvalidSignature(f"{source}: signed by key {document.get('key_id')!r}, which is not among the keys given")
    try:
        if document["claims"].get("type") == "lethe.deletion-receipt":
            claims = verify_receipt(document, key)
            if claims.audit is None:
                raise InvalidSignature("a version 1 receipt carries no audit checkpoint")
            return Anchor(claims.audit, f"receipt {claims.receipt_id}")
        checkpoint = verify_checkpoint(document, key)
    except InvalidSignature as exc:
        raise InvalidSignature(f"{source}: {exc}") from None
    return Anchor(checkpoint.chain, f"the checkpoint of {checkpoint.at.isoformat()}")
