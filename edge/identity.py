"""The kiosk's identity: its id and Ed25519 device key, in one 0600 JSON file."""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import ConfigurationError, KioskNotRegistered
from protocol import SigningKey
from protocol.encoding import b64_decode


@dataclass(frozen=True)
class KioskIdentity:
    kiosk_id: uuid.UUID
    key: SigningKey = field(repr=False)
    service_url: str


def save_identity(path: Path, identity: KioskIdentity) -> None:
    """Write the identity to ``path`` (mode 0600, created exclusively next to it, then renamed)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    record = {
        "kiosk_id": str(identity.kiosk_id),
        "private_key": base64.b64encode(identity.key.raw).decode(),
        "service_url": identity.service_url,
    }
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    os.replace(tmp, path)


def load_identity(path: Path) -> KioskIdentity:
    if not path.is_file():
        raise KioskNotRegistered(f"no kiosk identity at {path}")
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise ConfigurationError(f"{path} is readable by others; chmod 600 it")
    try:
        record = json.loads(path.read_text())
        return KioskIdentity(
            kiosk_id=uuid.UUID(record["kiosk_id"]),
            key=SigningKey(b64_decode(record["private_key"], length=32)),
            service_url=record["service_url"],
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"{path} is not a kiosk identity file: {exc}") from None
