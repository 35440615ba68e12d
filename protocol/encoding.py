"""Base64 with one spelling for each byte string: strict, canonical decoding of signatures and keys.

Python's decoders accept more than one text for the same bytes: the unused low
bits of the last character (any of ``A``-``P`` ends a 64-byte signature),
padding that is added or left out, ``+`` and ``/`` in base64url, and (without
``validate``) any character at all, which they skip. A signature or key with
several valid spellings is malleable: two different texts verify as one. These
decoders accept exactly the text their encoder writes and raise ``ValueError``
for anything else.
"""

from __future__ import annotations

import base64
import re

_URLSAFE = re.compile(r"[A-Za-z0-9_-]*")
_STANDARD = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5, no ``=``), as Lethe writes signatures and receipt claims."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str, *, length: int | None = None) -> bytes:
    """Decode what :func:`b64url_encode` writes, and only that; ``length``: the exact number of bytes expected.

    Raises ``ValueError`` for padding, characters outside ``A-Z a-z 0-9 - _``, a
    non-zero unused bit in the last character, or another length.
    """
    if not isinstance(text, str) or not _URLSAFE.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return _checked(raw, b64url_encode(raw) == text, length)


def b64_decode(text: str, *, length: int | None = None) -> bytes:
    """Decode padded standard base64 (RFC 4648 §4) in its one canonical spelling; see :func:`b64url_decode`."""
    if not isinstance(text, str) or not _STANDARD.fullmatch(text):
        raise ValueError("not padded base64")
    raw = base64.b64decode(text, validate=True)
    return _checked(raw, base64.b64encode(raw).decode("ascii") == text, length)


def _checked(raw: bytes, canonical: bool, length: int | None) -> bytes:
    if not canonical:
        raise ValueError("not the canonical base64 spelling (unused bits set)")
    if length is not None and len(raw) != length:
        raise ValueError(f"{len(raw)} bytes where {length} are expected")
    return raw
