"""Key rotation without downtime: add a key, re-wrap what is stored, retire old keys.

* ``rotate(kind)`` writes a new key file; the newest key of a kind seals, wraps
  or signs from then on, every older one is still tried to open.
* ``rewrap`` re-wraps every stay's key seed that is not under the newest
  key-encryption key, in batches (the seed is unwrapped and wrapped again in
  memory; the stay secret is never needed, so templates stay unreadable).
* ``retire(key_id)`` deletes an old key file: refused for the newest key of a
  kind, for a key-encryption key that still wraps a stay and for a staff-secret
  key that still seals a staff TOTP secret (rotating the staff key re-seals them).

Running workers notice a changed key folder at their next request
(``service/web/context.py`` compares the folder's listing and modification
time) and reload the keyring, so no restart is needed.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from protocol.vault import unwrap_key_seed, wrap_key_seed
from service import keyring
from service.errors import OperatorError
from service.keyring import staff_secrets
from service.storage import audit
from service.storage.db import Database
from service.storage.tables import StayKey

KIND_GROUPS = {
    "hpke": ("hpke-mlkem768-x25519", "hpke-x25519"),
    "kek": ("kek",),
    "receipt": ("receipt",),
    "staff": ("staff-secret",),
}


@dataclass(frozen=True)
class KeyInfo:
    kind: str
    key_id: str
    created: dt.datetime
    current: bool
    wraps: int | None

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "key_id": self.key_id,
            "created": self.created.isoformat(timespec="seconds"),
            "current": self.current,
            "stays_wrapped": self.wraps,
        }


def list_keys(key_dir: Path, session: Session | None = None) -> list[KeyInfo]:
    """Every key (no secrets), newest first per kind; for KEKs, how many stays each still wraps."""
    counts: Counter[str] = Counter()
    if session is not None:
        for kek_id, count in session.execute(select(StayKey.kek_id, func.count()).group_by(StayKey.kek_id)):
            counts[kek_id] = int(count)
    files = sorted(keyring.read_key_files(key_dir), key=lambda f: (f.kind, f.created), reverse=True)
    seen: set[str] = set()
    found = []
    for f in files:
        found.append(
            KeyInfo(f.kind, f.key_id, f.created, f.kind not in seen, counts[f.key_id] if f.kind == "kek" else None)
        )
        seen.add(f.kind)
    return found


def rotate(key_dir: Path, group: str, *, session: Session, actor: str) -> list[keyring.KeyFile]:
    """Add a new key for each kind in ``group`` (``hpke``, ``kek``, ``receipt``, ``staff``); audited.

    A new staff-secret key re-seals every staff TOTP secret under it in ``session``.
    """
    added = [keyring.add_key(key_dir, kind) for kind in KIND_GROUPS[group]]
    for key in added:
        audit.append(
            session, audit.Entry(actor=actor, action="key.rotate", subject=key.key_id, details={"kind": key.kind})
        )
        if key.kind == "staff-secret":
            resealed = staff_secrets.reseal_all(session, keyring.load_or_create(key_dir))
            audit.append(
                session,
                audit.Entry(actor=actor, action="key.reseal", subject=key.key_id, details={"accounts": resealed}),
            )
    return added


def rewrap(db: Database, key_dir: Path, *, actor: str, batch: int = 1000) -> int:
    """Re-wrap every stay key seed under the newest KEK; returns how many were re-wrapped."""
    ring = keyring.load_or_create(key_dir)
    current = ring.current_kek_id
    total = 0
    while True:
        with db.transaction() as session:
            rows = session.scalars(
                select(StayKey).where(StayKey.kek_id != current).limit(batch).with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                seed = unwrap_key_seed(ring.kek(row.kek_id), row.wrapped_seed, stay_id=row.stay_id)
                row.wrapped_seed = wrap_key_seed(ring.kek(current), seed, stay_id=row.stay_id)
                row.kek_id = current
            if rows:
                audit.append(
                    session,
                    audit.Entry(actor=actor, action="key.rewrap", subject=current, details={"stays": len(rows)}),
                )
        total += len(rows)
        if len(rows) < batch:
            return total


class RetireRefused(OperatorError):
    """The key is the newest of its kind, or a KEK that still wraps stays."""


def retire(key_dir: Path, key_id: str, *, session: Session, actor: str) -> keyring.KeyFile:
    """Delete key ``key_id``'s file (overwritten first); audited."""
    infos = {i.key_id: i for i in list_keys(key_dir, session)}
    info = infos.get(key_id)
    if info is None:
        raise RetireRefused(f"no key has id {key_id}")
    if info.current:
        raise RetireRefused(f"{key_id} is the newest {info.kind} key; rotate first")
    if info.wraps:
        raise RetireRefused(f"{key_id} still wraps {info.wraps} stay key(s); run 'lethe keys rewrap' first")
    if info.kind == "staff-secret" and (sealed := staff_secrets.accounts_per_key(session).get(key_id, 0)):
        raise RetireRefused(f"{key_id} still seals {sealed} staff TOTP secret(s); rotate the staff key first")
    path = key_dir / f"{info.kind}-{key_id}.key"
    retired = next(f for f in keyring.read_key_files(key_dir) if f.key_id == key_id)
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.write(b"\0" * size)
        f.flush()
        os.fsync(f.fileno())
    path.unlink()
    audit.append(session, audit.Entry(actor=actor, action="key.retire", subject=key_id, details={"kind": info.kind}))
    return retired
