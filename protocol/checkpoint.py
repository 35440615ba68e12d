"""Signed audit checkpoints: the service's signature over the audit chain's length and head hash.

As a Certificate Transparency log signs its tree head, the service signs
``(entries, head)``: how many audit entries the chain holds and the hash of the
last one. A checkpoint kept off the server, or carried in a deletion receipt
(:class:`~protocol.receipt.DeletionClaims` version 2), lets anyone holding it
tell later whether the chain was truncated (fewer entries than signed) or
rewritten (the entry at that position hashes differently).

A checkpoint document is ``{"claims": {...}, "key_id": "<hex>", "signature": "<base64url>"}``;
the signature covers ``CHECKPOINT_DOMAIN || canonical_json(claims)``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol.errors import InvalidSignature
from protocol.keys import SigningKey, VerifyKey
from protocol.payload import canonical_json

CHECKPOINT_DOMAIN = b"lethe/v1 audit-checkpoint\x00"
CHECKPOINT_TYPE = "lethe.audit-checkpoint"
CHECKPOINT_VERSION = 1
_FIELDS = {"type", "version", "entries", "head", "at"}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class ChainHead:
    """The audit chain's length and the SHA-256 (hex) of its last entry (64 zeros when it is empty)."""

    entries: int
    head: str

    def to_json(self) -> dict[str, Any]:
        return {"entries": self.entries, "head": self.head}

    @classmethod
    def from_json(cls, value: object) -> ChainHead:
        """Parse ``{"entries": n, "head": "<64 hex>"}`` strictly or raise InvalidSignature."""
        if not isinstance(value, dict) or set(value) != {"entries", "head"}:
            raise InvalidSignature("the audit chain head is malformed")
        return cls._checked(value["entries"], value["head"])

    @classmethod
    def _checked(cls, entries: object, head: object) -> ChainHead:
        if type(entries) is not int or entries < 0 or not isinstance(head, str) or not _HEX64.fullmatch(head):
            raise InvalidSignature("the audit chain head has the wrong types")
        return cls(entries, head)


@dataclass(frozen=True)
class Checkpoint:
    """A signed chain head and when it was taken (UTC, to the second)."""

    chain: ChainHead
    at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        """The claims as they are signed (``docs/protocol.md``)."""
        return {
            "type": CHECKPOINT_TYPE,
            "version": CHECKPOINT_VERSION,
            **self.chain.to_json(),
            "at": self.at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        }

    @classmethod
    def from_json(cls, claims: Mapping[str, Any]) -> Checkpoint:
        """Parse signed claims strictly (exactly these fields, this type and version) or raise InvalidSignature."""
        if set(claims) != _FIELDS or claims["type"] != CHECKPOINT_TYPE:
            raise InvalidSignature("not an audit checkpoint")
        if claims["version"] != CHECKPOINT_VERSION:
            raise InvalidSignature(f"unknown checkpoint version {claims['version']!r}")
        chain = ChainHead._checked(claims["entries"], claims["head"])
        return cls(chain, parse_utc(claims["at"], "the checkpoint's at"))


def parse_utc(value: object, name: str) -> dt.datetime:
    """An ISO 8601 time with its zone, or InvalidSignature naming ``name``."""
    if not isinstance(value, str):
        raise InvalidSignature(f"{name} is not a string")
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidSignature(f"{name} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise InvalidSignature(f"{name} has no time zone")
    return when


def sign_checkpoint(checkpoint: Checkpoint, key: SigningKey) -> dict[str, Any]:
    """Return the signed checkpoint document."""
    body = checkpoint.to_json()
    signature = key.sign(CHECKPOINT_DOMAIN + canonical_json(body))
    return {
        "claims": body,
        "key_id": key.public_key().key_id.hex(),
        "signature": base64.urlsafe_b64encode(signature).decode("ascii").rstrip("="),
    }


def verify_checkpoint(document: Mapping[str, Any], public_key: VerifyKey) -> Checkpoint:
    """Verify a checkpoint document and return it.

    Raises :class:`~protocol.errors.InvalidSignature` if the document is
    malformed, names another key, its signature is not canonical unpadded
    base64url or does not cover these exact claims.
    """
    claims = document.get("claims")
    signature = document.get("signature")
    if set(document) != {"claims", "key_id", "signature"} or not isinstance(claims, dict):
        raise InvalidSignature("not a checkpoint document")
    if document.get("key_id") != public_key.key_id.hex() or not isinstance(signature, str):
        raise InvalidSignature("checkpoint was signed by another key")
    public_key.verify(decode_signature(signature), CHECKPOINT_DOMAIN + canonical_json(claims))
    return Checkpoint.from_json(claims)


def decode_signature(text: str) -> bytes:
    """Decode an unpadded base64url signature, accepting only its one canonical spelling."""
    if not _BASE64URL.fullmatch(text):
        raise InvalidSignature("signature is not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidSignature("signature is not base64url") from None
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != text:
        raise InvalidSignature("signature is not canonical base64url")
    return raw
