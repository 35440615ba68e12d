"""The booking code a guest carries in the booking QR, and its fingerprint.

A booking code is ``LETHE1.<reference>.<secret>``: the reservation's public
reference (6–16 characters of ``A-Z0-9``) and the 128-bit stay secret in
unpadded base32. The service stores only :func:`secret_fingerprint` of the
secret; the secret itself reaches the service only inside a sealed envelope.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field

from protocol.errors import InvalidBookingCode

PREFIX = "LETHE1"
SECRET_LENGTH = 16
FINGERPRINT_DOMAIN = b"lethe/v1 stay-secret-fingerprint\x00"
_REFERENCE = re.compile(r"[A-Z0-9]{6,16}")
_SECRET_B32 = re.compile(r"[A-Z2-7]{26}")


@dataclass(frozen=True)
class BookingCode:
    """A parsed booking code. Its ``repr`` hides the secret."""

    reference: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _REFERENCE.fullmatch(self.reference):
            raise InvalidBookingCode("booking reference must be 6-16 characters A-Z0-9")
        if len(self.secret) != SECRET_LENGTH:
            raise InvalidBookingCode("stay secret must be 16 bytes")

    def __str__(self) -> str:
        encoded = base64.b32encode(self.secret).decode("ascii").rstrip("=")
        return f"{PREFIX}.{self.reference}.{encoded}"

    @property
    def fingerprint(self) -> str:
        return secret_fingerprint(self.secret)


def new_stay_secret() -> bytes:
    """Return a fresh random 128-bit stay secret."""
    return secrets.token_bytes(SECRET_LENGTH)


def parse_booking_code(text: str) -> BookingCode:
    """Parse the text of a booking QR; raise :class:`InvalidBookingCode` if it is not one."""
    parts = text.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise InvalidBookingCode("not a Lethe booking code")
    reference, encoded = parts[1], parts[2]
    if not _SECRET_B32.fullmatch(encoded):
        raise InvalidBookingCode("stay secret is not 26 base32 characters")
    secret = base64.b32decode(encoded + "======")
    return BookingCode(reference, secret)


def secret_fingerprint(secret: bytes) -> str:
    """Return the hex SHA-256 fingerprint of a stay secret (domain-separated).

    The fingerprint lets the service say "wrong code" and lets a guest recognise
    their own deletion receipt; it cannot be turned back into the secret.
    """
    return hashlib.sha256(FINGERPRINT_DOMAIN + secret).hexdigest()
