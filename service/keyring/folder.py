"""The service's keys: HPKE identities, key-encryption keys, the receipt-signing key, the staff-secret key.

Keys live as files in the key folder (mode 0700; files 0600), one key a file,
named ``<kind>-<key id>.key`` and holding the raw secret in base64 with its
creation time. On first start one key of each kind is generated. Lists are
ordered newest first: the newest key seals or signs, every key is tried to open.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from protocol import RecipientPrivateKey, SigningKey, Suite, VerifyKey
from protocol.encoding import b64_decode
from protocol.vault import new_kek
from service.errors import OperatorError

KINDS = ("hpke-mlkem768-x25519", "hpke-x25519", "kek", "receipt", "staff-secret")


class KeyringError(OperatorError):
    """The key folder is unreadable, too open, or holds a malformed key file."""


@dataclass(frozen=True)
class KeyFile:
    kind: str
    key_id: str
    created: dt.datetime
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class Keyring:
    """All keys of one service instance. ``repr`` shows key ids only."""

    hpke: tuple[RecipientPrivateKey, ...]
    keks: dict[str, bytes] = field(repr=False)
    kek_order: tuple[str, ...]
    receipt_keys: tuple[SigningKey, ...]
    #: AES-256 keys that seal the staff accounts' TOTP secrets (``service/keyring/staff_secrets.py``)
    staff_keys: dict[str, bytes] = field(default_factory=dict, repr=False)
    staff_key_order: tuple[str, ...] = ()

    @property
    def current_staff_key_id(self) -> str:
        if not self.staff_key_order:
            raise KeyringError("the keyring has no staff-secret key")
        return self.staff_key_order[0]

    def staff_key(self, key_id: str) -> bytes:
        try:
            return self.staff_keys[key_id]
        except KeyError:
            raise KeyringError(f"staff-secret key {key_id} is not in the keyring") from None

    @property
    def current_kek_id(self) -> str:
        return self.kek_order[0]

    def kek(self, key_id: str) -> bytes:
        try:
            return self.keks[key_id]
        except KeyError:
            raise KeyringError(f"key-encryption key {key_id} is not in the keyring") from None

    @property
    def receipt_key(self) -> SigningKey:
        return self.receipt_keys[0]

    def recipient_for(self, suite: Suite) -> RecipientPrivateKey:
        """The newest HPKE key of ``suite`` (what kiosks should seal to)."""
        return next(k for k in self.hpke if k.suite is suite)

    def receipt_public_keys(self) -> list[VerifyKey]:
        return [k.public_key() for k in self.receipt_keys]


def load_or_create(key_dir: Path) -> Keyring:
    """Load the keyring from ``key_dir``, generating any missing kind of key first."""
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_private(key_dir, dir_mode=True)
    files = read_key_files(key_dir)
    for kind in KINDS:
        if not any(f.kind == kind for f in files):
            add_key(key_dir, kind)
    return build_keyring(read_key_files(key_dir))


def add_key(key_dir: Path, kind: str) -> KeyFile:
    """Generate a new key of ``kind`` and write it to its own 0600 file."""
    secret, key_id = _generate(kind)
    now = dt.datetime.now(dt.UTC)
    record = {"kind": kind, "key_id": key_id, "created": now.isoformat(), "secret": base64.b64encode(secret).decode()}
    path = key_dir / f"{kind}-{key_id}.key"
    partial = key_dir / f".{kind}-{key_id}.partial"  # renamed into place whole: readers never see half a key
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
        f.flush()
        os.fsync(f.fileno())
    if path.exists():
        partial.unlink()
        raise KeyringError(f"{path.name} exists")
    os.rename(partial, path)
    return KeyFile(kind, key_id, now, secret)


def read_key_files(key_dir: Path) -> list[KeyFile]:
    files = []
    for path in sorted(key_dir.glob("*.key")):
        _check_private(path, dir_mode=False)
        try:
            record = json.loads(path.read_text())
            files.append(
                KeyFile(
                    kind=record["kind"],
                    key_id=record["key_id"],
                    created=dt.datetime.fromisoformat(record["created"]),
                    secret=b64_decode(record["secret"]),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyringError(f"{path.name} is not a valid key file: {exc}") from None
    return files


def build_keyring(files: list[KeyFile]) -> Keyring:
    newest_first = sorted(files, key=lambda f: f.created, reverse=True)

    def of(kind: str) -> list[KeyFile]:
        return [f for f in newest_first if f.kind == kind]

    hpke = [
        RecipientPrivateKey(Suite.from_label(f.kind.removeprefix("hpke-")), f.secret)
        for f in of("hpke-mlkem768-x25519")
    ]
    hpke += [RecipientPrivateKey(Suite.X25519, f.secret) for f in of("hpke-x25519")]
    keks = of("kek")
    receipts = of("receipt")
    staff = of("staff-secret")
    if not hpke or not keks or not receipts or not staff:
        raise KeyringError(
            "the key folder lacks an HPKE key, a key-encryption key, a receipt key or a staff-secret key"
        )
    return Keyring(
        hpke=tuple(hpke),
        keks={f.key_id: f.secret for f in keks},
        kek_order=tuple(f.key_id for f in keks),
        receipt_keys=tuple(SigningKey(f.secret) for f in receipts),
        staff_keys={f.key_id: f.secret for f in staff},
        staff_key_order=tuple(f.key_id for f in staff),
    )


def _generate(kind: str) -> tuple[bytes, str]:
    if kind.startswith("hpke-"):
        hpke_key = RecipientPrivateKey.generate(Suite.from_label(kind.removeprefix("hpke-")))
        return hpke_key.raw, hpke_key.public_key().key_id.hex()
    if kind in ("kek", "staff-secret"):
        return new_kek(), os.urandom(8).hex()
    if kind == "receipt":
        signing = SigningKey.generate()
        return signing.raw, signing.public_key().key_id.hex()
    raise KeyringError(f"unknown key kind {kind!r}")


def _check_private(path: Path, *, dir_mode: bool) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        want = "0700" if dir_mode else "0600"
        raise KeyringError(f"{path} is readable by others (mode {mode:04o}); chmod {want} it")
