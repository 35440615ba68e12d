"""Signatures on kiosk HTTP requests that carry no envelope (e.g. opening a session).

The kiosk signs ``REQUEST_DOMAIN || method \\n path \\n kiosk_id \\n timestamp_ms \\n
request_nonce \\n sha256(body)`` and sends the parts as headers. The service
checks the signature, the freshness window and that the request nonce is new.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from protocol.encoding import b64url_decode, b64url_encode
from protocol.errors import InvalidSignature
from protocol.keys import SigningKey, VerifyKey

REQUEST_DOMAIN = b"lethe/v1 kiosk-request\x00"
KIOSK_HEADER = "Lethe-Kiosk"
TIMESTAMP_HEADER = "Lethe-Timestamp"
NONCE_HEADER = "Lethe-Request-Nonce"
SIGNATURE_HEADER = "Lethe-Signature"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIMESTAMP = re.compile(r"0|[1-9][0-9]{0,14}")
_NONCE = re.compile(r"[A-Za-z0-9]{16,64}")


@dataclass(frozen=True)
class SignedRequest:
    """The authenticated facts of a kiosk request, once its headers have parsed."""

    kiosk_id: uuid.UUID
    timestamp_ms: int
    nonce: str
    signature: bytes


def sign_request(key: SigningKey, kiosk_id: uuid.UUID, method: str, path: str, body: bytes) -> dict[str, str]:
    """Return the headers that authenticate this request as coming from ``kiosk_id``."""
    return sign_request_at_time(key, kiosk_id, method, path, body, now=time.time(), nonce=secrets.token_hex(16))


def sign_request_at_time(
    key: SigningKey, kiosk_id: uuid.UUID, method: str, path: str, body: bytes, *, now: float, nonce: str
) -> dict[str, str]:
    timestamp_ms = int(now * 1000)
    signature = key.sign(_message(method, path, kiosk_id, timestamp_ms, nonce, body))
    return {
        KIOSK_HEADER: str(kiosk_id),
        TIMESTAMP_HEADER: str(timestamp_ms),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: b64url_encode(signature),
    }


def parse_request_headers(headers: Mapping[str, str]) -> SignedRequest:
    """Parse the signature headers strictly, each in its one spelling; raise :class:`InvalidSignature` otherwise.

    The kiosk id is a lower-case hyphenated UUID, the timestamp 1-15 ASCII
    digits, the nonce 16-64 ASCII letters and digits, the signature 64 bytes of
    canonical unpadded base64url (:func:`protocol.encoding.b64url_decode`).
    """
    try:
        kiosk_text, timestamp, nonce = headers[KIOSK_HEADER], headers[TIMESTAMP_HEADER], headers[NONCE_HEADER]
        if not (_UUID.fullmatch(kiosk_text) and _TIMESTAMP.fullmatch(timestamp) and _NONCE.fullmatch(nonce)):
            raise ValueError("malformed")
        signature = b64url_decode(headers[SIGNATURE_HEADER], length=64)
    except (KeyError, ValueError, TypeError):
        raise InvalidSignature("missing or malformed request signature headers") from None
    return SignedRequest(uuid.UUID(kiosk_text), int(timestamp), nonce, signature)


def verify_request(key: VerifyKey, signed: SignedRequest, method: str, path: str, body: bytes) -> None:
    """Raise :class:`InvalidSignature` unless ``signed`` covers exactly this request."""
    key.verify(signed.signature, _message(method, path, signed.kiosk_id, signed.timestamp_ms, signed.nonce, body))


def _message(method: str, path: str, kiosk_id: uuid.UUID, timestamp_ms: int, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    text = f"{method.upper()}\n{path}\n{kiosk_id}\n{timestamp_ms}\n{nonce}\n{digest}"
    return REQUEST_DOMAIN + text.encode()
