"""The booking code a guest carries in the booking QR, and what the kiosk derives from it.

A booking code is ``LETHE2.<reference>.<master secret>``: the reservation's
public reference (6–16 characters of ``A-Z0-9``) and a 128-bit master secret in
unpadded base32. From the master secret the kiosk derives, with HKDF-SHA256 and
separate domain strings,

- the **stay secret** (16 bytes), which the service needs: it travels inside the
  sealed envelope and opens the stay's stored templates; the service stores only
  its :func:`secret_fingerprint`;
- the **transform key** (32 bytes), which never leaves the kiosk: it seeds the
  secret rotation of the templates (:mod:`protocol.transform`).

Version 1 codes (``LETHE1``, the stay secret itself) are refused: a kiosk
cannot make unlinkable templates from them.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocol.errors import InvalidBookingCode

PREFIX = "LETHE2"
PREFIX_V1 = "LETHE1"
MASTER_SECRET_LENGTH = 16
SECRET_LENGTH = 16
TRANSFORM_KEY_LENGTH = 32
FINGERPRINT_DOMAIN = b"lethe/v1 stay-secret-fingerprint\x00"
STAY_SECRET_INFO = b"lethe/v2 stay-secret\x00"
TRANSFORM_KEY_INFO = b"lethe/v2 template-transform-key\x00"
_REFERENCE = re.compile(r"[A-Z0-9]{6,16}")
_SECRET_B32 = re.compile(r"[A-Z2-7]{26}")


@dataclass(frozen=True)
class BookingCode:
    """A parsed booking code. Its ``repr`` hides the master secret and everything derived from it."""

    reference: str
    master_secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _REFERENCE.fullmatch(self.reference):
            raise InvalidBookingCode("booking reference must be 6-16 characters A-Z0-9")
        if len(self.master_secret) != MASTER_SECRET_LENGTH:
            raise InvalidBookingCode("master secret must be 16 bytes")

    def __str__(self) -> str:
        return f"{PREFIX}.{self.reference}.{encode_secret(self.master_secret)}"

    @property
    def stay_secret(self) -> bytes:
        """The 16-byte stay secret the service needs (sent sealed; see :func:`derive_stay_secret`)."""
        return derive_stay_secret(self.master_secret)

    @property
    def transform_key(self) -> bytes:
        """The 32-byte key of the template rotation; it must never leave the kiosk."""
        return _hkdf(self.master_secret, TRANSFORM_KEY_INFO, TRANSFORM_KEY_LENGTH)

    @property
    def fingerprint(self) -> str:
        """The stay secret's fingerprint: all the service stores about this code."""
        return secret_fingerprint(self.stay_secret)


def new_master_secret() -> bytes:
    """Return a fresh random 128-bit master secret for a booking code."""
    return secrets.token_bytes(MASTER_SECRET_LENGTH)


def derive_stay_secret(master_secret: bytes) -> bytes:
    """``HKDF-SHA256(ikm = master secret, salt = none, info = "lethe/v2 stay-secret\\0", L = 16)``."""
    if len(master_secret) != MASTER_SECRET_LENGTH:
        raise ValueError("master secret must be 16 bytes")
    return _hkdf(master_secret, STAY_SECRET_INFO, SECRET_LENGTH)


def parse_booking_code(text: str) -> BookingCode:
    """Parse the text of a booking QR; raise :class:`InvalidBookingCode` if it is not a version 2 code."""
    parts = text.strip().split(".")
    if len(parts) == 3 and parts[0] == PREFIX_V1:
        raise InvalidBookingCode("version 1 booking codes (LETHE1) are no longer accepted: ask for a new code")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise InvalidBookingCode("not a Lethe booking code")
    return BookingCode(parts[1], decode_secret(parts[2]))


def encode_secret(secret: bytes) -> str:
    """A 16-byte secret as 26 characters of unpadded RFC 4648 base32."""
    if len(secret) != SECRET_LENGTH:
        raise ValueError("secret must be 16 bytes")
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def decode_secret(text: str) -> bytes:
    """Parse 26 characters of unpadded base32 into a 16-byte secret; raise :class:`InvalidBookingCode`."""
    if not _SECRET_B32.fullmatch(text):
        raise InvalidBookingCode("secret is not 26 base32 characters")
    secret = base64.b32decode(text + "======")
    if encode_secret(secret) != text:
        raise InvalidBookingCode("secret is not canonical base32")
    return secret


def secret_fingerprint(secret: bytes) -> str:
    """Return the hex SHA-256 fingerprint of a stay secret (domain-separated).

    The fingerprint lets the service say "wrong code" and lets a guest recognise
    their own deletion receipt; it cannot be turned back into the secret.
    """
    return hashlib.sha256(FINGERPRINT_DOMAIN + secret).hexdigest()


def _hkdf(ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(ikm)
