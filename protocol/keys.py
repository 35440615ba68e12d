"""Key material for the envelope, device signatures and receipts.

Keys travel and rest as raw bytes in fixed, documented lengths (see
``docs/protocol.md``). The classes here wrap those bytes, build the
``cryptography`` objects on demand and hide secrets from ``repr``.
"""

from __future__ import annotations

import enum
import functools
import hashlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519

from protocol.errors import InvalidSignature

KEY_ID_DOMAIN = b"lethe/v1 key-id\x00"
KEY_ID_LENGTH = 8


class Suite(enum.IntEnum):
    """HPKE suites the envelope allows, by their one-byte wire id.

    Both use HKDF-SHA256 and AES-256-GCM; they differ in the KEM.
    """

    X25519 = 0x01
    MLKEM768_X25519 = 0x02

    @property
    def hpke_suite(self) -> hpke.Suite:
        kem = hpke.KEM.X25519 if self is Suite.X25519 else hpke.KEM.MLKEM768_X25519
        return hpke.Suite(kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)

    @property
    def enc_length(self) -> int:
        """Length in bytes of the HPKE encapsulated key for this suite."""
        return 32 if self is Suite.X25519 else 1120

    @property
    def private_length(self) -> int:
        return 32 if self is Suite.X25519 else 96

    @property
    def public_length(self) -> int:
        return 32 if self is Suite.X25519 else 1216

    @property
    def label(self) -> str:
        return "x25519" if self is Suite.X25519 else "mlkem768-x25519"

    @classmethod
    def from_label(cls, label: str) -> Suite:
        for suite in cls:
            if suite.label == label:
                return suite
        raise ValueError(f"unknown HPKE suite {label!r}; use one of: x25519, mlkem768-x25519")


DEFAULT_SUITE = Suite.MLKEM768_X25519


def key_id(public_bytes: bytes) -> bytes:
    """Return the 8-byte key id of a public key: a truncated, domain-separated SHA-256."""
    return hashlib.sha256(KEY_ID_DOMAIN + public_bytes).digest()[:KEY_ID_LENGTH]


@dataclass(frozen=True)
class RecipientPublicKey:
    """The service's HPKE public key for one suite."""

    suite: Suite
    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != self.suite.public_length:
            raise ValueError(f"{self.suite.label} public key must be {self.suite.public_length} bytes")

    @property
    def key_id(self) -> bytes:
        return key_id(self.raw)

    def to_hpke(self) -> x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey:
        if self.suite is Suite.X25519:
            return x25519.X25519PublicKey.from_public_bytes(self.raw)
        return hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(self.raw[:1184]),
            x25519.X25519PublicKey.from_public_bytes(self.raw[1184:]),
        )


@dataclass(frozen=True)
class RecipientPrivateKey:
    """The service's HPKE private key for one suite.

    The raw form is the X25519 scalar (32 bytes), or for the hybrid suite the
    ML-KEM-768 seed (64 bytes) followed by the X25519 scalar (32 bytes).
    """

    suite: Suite
    raw: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.raw) != self.suite.private_length:
            raise ValueError(f"{self.suite.label} private key must be {self.suite.private_length} bytes")

    def __repr__(self) -> str:
        return f"RecipientPrivateKey(suite={self.suite.label}, key_id={self.public_key().key_id.hex()})"

    @classmethod
    def generate(cls, suite: Suite = DEFAULT_SUITE) -> RecipientPrivateKey:
        xkey = x25519.X25519PrivateKey.generate().private_bytes_raw()
        if suite is Suite.X25519:
            return cls(suite, xkey)
        seed = mlkem.MLKEM768PrivateKey.generate().private_bytes_raw()
        return cls(suite, seed + xkey)

    def to_hpke(self) -> x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey:
        return self._hpke

    def public_key(self) -> RecipientPublicKey:
        return self._public

    # Derived once per key object (ML-KEM key expansion from the seed is the costly part): the service
    # opens every envelope with the same keyring objects.
    @functools.cached_property
    def _hpke(self) -> x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey:
        if self.suite is Suite.X25519:
            return x25519.X25519PrivateKey.from_private_bytes(self.raw)
        return hpke.MLKEM768X25519PrivateKey(
            mlkem.MLKEM768PrivateKey.from_seed_bytes(self.raw[:64]),
            x25519.X25519PrivateKey.from_private_bytes(self.raw[64:]),
        )

    @functools.cached_property
    def _public(self) -> RecipientPublicKey:
        if self.suite is Suite.X25519:
            xpub = x25519.X25519PrivateKey.from_private_bytes(self.raw).public_key()
            return RecipientPublicKey(self.suite, xpub.public_bytes_raw())
        mpub = mlkem.MLKEM768PrivateKey.from_seed_bytes(self.raw[:64]).public_key()
        xpub = x25519.X25519PrivateKey.from_private_bytes(self.raw[64:]).public_key()
        return RecipientPublicKey(self.suite, mpub.public_bytes_raw() + xpub.public_bytes_raw())


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key (32-byte seed): a kiosk's device key or the receipt key."""

    raw: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise ValueError("an Ed25519 private key is 32 bytes")

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public_key().raw.hex()[:16]}…)"

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ed25519.Ed25519PrivateKey.generate().private_bytes_raw())

    def public_key(self) -> VerifyKey:
        return VerifyKey(self._key().public_key().public_bytes_raw())

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message`` (deterministic)."""
        return self._key().sign(message)

    def _key(self) -> ed25519.Ed25519PrivateKey:
        return ed25519.Ed25519PrivateKey.from_private_bytes(self.raw)


@dataclass(frozen=True)
class VerifyKey:
    """An Ed25519 public key (32 bytes)."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> bytes:
        return key_id(self.raw)

    @functools.cached_property
    def _key(self) -> ed25519.Ed25519PublicKey:
        # Loaded once per VerifyKey: OpenSSL's key set-up is ~12 µs, a fifth of a verification's signature check.
        return ed25519.Ed25519PublicKey.from_public_bytes(self.raw)

    def verify(self, signature: bytes, message: bytes) -> None:
        """Raise :class:`~protocol.errors.InvalidSignature` unless ``signature`` is valid."""
        try:
            self._key.verify(signature, message)
        except _CryptoInvalidSignature:
            raise InvalidSignature("signature does not verify") from None

    def to_pem(self) -> bytes:
        """Return the key as a PEM SubjectPublicKeyInfo, readable by OpenSSL."""
        return self._key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    @classmethod
    def from_pem(cls, data: bytes) -> VerifyKey:
        """Load a PEM SubjectPublicKeyInfo Ed25519 key; raise ``ValueError`` for anything else."""
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return cls(key.public_bytes_raw())
