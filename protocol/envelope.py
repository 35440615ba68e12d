"""The sealed check-in envelope: HPKE to the service, signed by the kiosk.

Layout (big-endian integers; full specification in ``docs/protocol.md``)::

    header (90 bytes) | enc (32 or 1120 bytes, by suite) | ct (ct_len bytes) | sig (64 bytes)

    header = "LTHE" | version:u8 | suite:u8 | recipient_key_id:8 | kiosk_id:16
             | session_id:16 | nonce:32 | timestamp_ms:u64 | ct_len:u32

The header is bound into HPKE as ``info`` and the Ed25519 device signature
covers header, enc and ct. Every failure to parse or open raises the same
opaque :class:`~protocol.errors.InvalidEnvelope`.
"""

from __future__ import annotations

import struct
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag

from protocol.errors import InvalidEnvelope, InvalidSignature
from protocol.keys import RecipientPrivateKey, RecipientPublicKey, SigningKey, Suite, VerifyKey

MAGIC = b"LTHE"
VERSION = 0x01
INFO_DOMAIN = b"lethe/v1 checkin-envelope\x00"
SIGNATURE_DOMAIN = b"lethe/v1 envelope-signature\x00"
NONCE_LENGTH = 32
SIGNATURE_LENGTH = 64
TAG_LENGTH = 16
MAX_PLAINTEXT = 32 * 1024
_HEADER = struct.Struct(">4sBB8s16s16s32sQI")
HEADER_LENGTH = _HEADER.size
MAX_ENVELOPE = HEADER_LENGTH + 1120 + MAX_PLAINTEXT + TAG_LENGTH + SIGNATURE_LENGTH


@dataclass(frozen=True)
class Header:
    """The clear, signed and HPKE-bound part of an envelope."""

    suite: Suite
    recipient_key_id: bytes
    kiosk_id: uuid.UUID
    session_id: uuid.UUID
    nonce: bytes
    timestamp_ms: int
    ct_length: int

    def to_bytes(self) -> bytes:
        return _HEADER.pack(
            MAGIC,
            VERSION,
            self.suite,
            self.recipient_key_id,
            self.kiosk_id.bytes,
            self.session_id.bytes,
            self.nonce,
            self.timestamp_ms,
            self.ct_length,
        )


@dataclass(frozen=True)
class Envelope:
    """A structurally valid envelope, not yet authenticated or opened."""

    header: Header
    header_bytes: bytes
    enc: bytes
    ciphertext: bytes
    signature: bytes

    @property
    def signed_bytes(self) -> bytes:
        return SIGNATURE_DOMAIN + self.header_bytes + self.enc + self.ciphertext


def seal(
    payload: bytes,
    *,
    recipient: RecipientPublicKey,
    device_key: SigningKey,
    kiosk_id: uuid.UUID,
    session_id: uuid.UUID,
    nonce: bytes,
) -> bytes:
    """Seal ``payload`` to the service and sign it with the kiosk's device key."""
    return seal_at_time(
        payload,
        recipient=recipient,
        device_key=device_key,
        kiosk_id=kiosk_id,
        session_id=session_id,
        nonce=nonce,
        now=time.time(),
    )


def seal_at_time(
    payload: bytes,
    *,
    recipient: RecipientPublicKey,
    device_key: SigningKey,
    kiosk_id: uuid.UUID,
    session_id: uuid.UUID,
    nonce: bytes,
    now: float,
) -> bytes:
    """Like :func:`seal` with an explicit clock (seconds since the Unix epoch)."""
    if len(nonce) != NONCE_LENGTH:
        raise ValueError("session nonce must be 32 bytes")
    if len(payload) > MAX_PLAINTEXT:
        raise ValueError(f"payload larger than {MAX_PLAINTEXT} bytes")
    header = Header(
        suite=recipient.suite,
        recipient_key_id=recipient.key_id,
        kiosk_id=kiosk_id,
        session_id=session_id,
        nonce=nonce,
        timestamp_ms=int(now * 1000),
        ct_length=len(payload) + TAG_LENGTH,
    )
    header_bytes = header.to_bytes()
    sealed = recipient.suite.hpke_suite.encrypt(payload, recipient.to_hpke(), info=INFO_DOMAIN + header_bytes)
    body = header_bytes + sealed
    return body + device_key.sign(SIGNATURE_DOMAIN + body)


def parse_envelope(data: bytes) -> Envelope:
    """Parse ``data`` strictly into an :class:`Envelope` without any cryptography.

    Checks the magic, version, suite and that the total length is exact.
    """
    if len(data) < HEADER_LENGTH or len(data) > MAX_ENVELOPE:
        raise InvalidEnvelope("length out of range")
    magic, version, suite_id, kid, kiosk, session, nonce, ts, ct_len = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise InvalidEnvelope("bad magic")
    if version != VERSION:
        raise InvalidEnvelope(f"unknown version {version}")
    try:
        suite = Suite(suite_id)
    except ValueError:
        raise InvalidEnvelope(f"unknown suite {suite_id}") from None
    if not TAG_LENGTH <= ct_len <= MAX_PLAINTEXT + TAG_LENGTH:
        raise InvalidEnvelope("ciphertext length out of range")
    if len(data) != HEADER_LENGTH + suite.enc_length + ct_len + SIGNATURE_LENGTH:
        raise InvalidEnvelope("length does not match header")
    header = Header(suite, kid, uuid.UUID(bytes=kiosk), uuid.UUID(bytes=session), nonce, ts, ct_len)
    enc_end = HEADER_LENGTH + suite.enc_length
    return Envelope(
        header=header,
        header_bytes=data[:HEADER_LENGTH],
        enc=data[HEADER_LENGTH:enc_end],
        ciphertext=data[enc_end : enc_end + ct_len],
        signature=data[enc_end + ct_len :],
    )


def open_envelope(
    envelope: Envelope,
    *,
    device_key: VerifyKey,
    recipient_keys: Sequence[RecipientPrivateKey],
) -> bytes:
    """Verify the device signature, then open the envelope in memory.

    ``recipient_keys`` is the service's keyring, newest first: the key whose id
    the header names is tried first, then every other key of the same suite.
    Returns the payload bytes.
    """
    try:
        device_key.verify(envelope.signature, envelope.signed_bytes)
    except InvalidSignature:
        raise InvalidEnvelope("device signature does not verify") from None
    suite = envelope.header.suite
    candidates = [k for k in recipient_keys if k.suite is suite]
    candidates.sort(key=lambda k: k.public_key().key_id != envelope.header.recipient_key_id)
    info = INFO_DOMAIN + envelope.header_bytes
    for key in candidates:
        try:
            return suite.hpke_suite.decrypt(envelope.enc + envelope.ciphertext, key.to_hpke(), info=info)
        except (InvalidTag, ValueError):
            continue
    raise InvalidEnvelope("no recipient key opens the envelope")
