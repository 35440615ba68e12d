"""Deletion receipts: typed claims, in canonical JSON, signed with the service's Ed25519 key.

A receipt document is ``{"claims": {...}, "key_id": "<hex>", "signature": "<base64url>"}``.
The signature covers ``RECEIPT_DOMAIN || canonical_json(claims)``. Anyone with
the service's receipt public key can verify it offline. The claims are
:class:`DeletionClaims`; :func:`verify_receipt` accepts exactly their fields,
of version 1 (no audit chain head) or 2 (with the signed head of the audit
chain after the checkout was recorded, a checkpoint: ``protocol.checkpoint``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol.checkpoint import ChainHead, parse_utc
from protocol.encoding import b64url_decode, b64url_encode
from protocol.errors import InvalidSignature
from protocol.keys import SigningKey, VerifyKey
from protocol.payload import canonical_json

RECEIPT_DOMAIN = b"lethe/v1 deletion-receipt\x00"
RECEIPT_TYPE = "lethe.deletion-receipt"
RECEIPT_VERSION = 2
_FIELDS_V1 = {"type", "version", "receipt_id", "stay_ref_digest", "deleted", "deleted_at"}
_FIELDS = {1: _FIELDS_V1, 2: _FIELDS_V1 | {"audit"}}


@dataclass(frozen=True)
class DeletionClaims:
    """What a deletion receipt states: which stay's face data was deleted, how much, and when.

    ``stay_ref_digest`` is the stay secret's fingerprint, so the guest can
    recognise their receipt from their booking QR and nobody else can link it to
    a name. ``deleted_at`` is UTC, to the second. ``audit`` is the audit chain's
    length and head once the checkout was recorded (version 2; ``None`` in a
    version 1 receipt), so every receipt a guest keeps is also a checkpoint.
    """

    receipt_id: str
    stay_ref_digest: str
    templates: int
    data_keys: int
    deleted_at: dt.datetime
    audit: ChainHead | None = None

    @property
    def version(self) -> int:
        return 1 if self.audit is None else 2

    def to_json(self) -> dict[str, Any]:
        """The claims as they are signed (``docs/protocol.md``)."""
        body: dict[str, Any] = {
            "type": RECEIPT_TYPE,
            "version": self.version,
            "receipt_id": self.receipt_id,
            "stay_ref_digest": self.stay_ref_digest,
            "deleted": {"templates": self.templates, "data_keys": self.data_keys},
            "deleted_at": self.deleted_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        }
        if self.audit is not None:
            body["audit"] = self.audit.to_json()
        return body

    @classmethod
    def from_json(cls, claims: Mapping[str, Any]) -> DeletionClaims:
        """Parse signed claims strictly (exactly the fields of their version, 1 or 2) or raise InvalidSignature."""
        version = claims.get("version")
        if claims.get("type") != RECEIPT_TYPE:
            raise InvalidSignature("not a deletion receipt")
        if type(version) is not int or version not in _FIELDS:
            raise InvalidSignature(f"unknown receipt version {version!r}")
        if set(claims) != _FIELDS[version]:
            raise InvalidSignature("not a deletion receipt")
        deleted = claims["deleted"]
        if not isinstance(deleted, dict) or set(deleted) != {"templates", "data_keys"}:
            raise InvalidSignature("the receipt's deleted counts are malformed")
        texts = (claims["receipt_id"], claims["stay_ref_digest"], claims["deleted_at"])
        counts = (deleted["templates"], deleted["data_keys"])
        if not all(isinstance(t, str) for t in texts) or not all(type(c) is int and c >= 0 for c in counts):
            raise InvalidSignature("the receipt's claims have the wrong types")
        deleted_at = parse_utc(claims["deleted_at"], "the receipt's deleted_at")
        audit = ChainHead.from_json(claims["audit"]) if version == 2 else None
        return cls(claims["receipt_id"], claims["stay_ref_digest"], counts[0], counts[1], deleted_at, audit)


def sign_receipt(claims: DeletionClaims, key: SigningKey) -> dict[str, Any]:
    """Return the signed receipt document for ``claims``."""
    body = claims.to_json()
    signature = key.sign(RECEIPT_DOMAIN + canonical_json(body))
    return {
        "claims": body,
        "key_id": key.public_key().key_id.hex(),
        "signature": b64url_encode(signature),
    }


def verify_receipt(document: Mapping[str, Any], public_key: VerifyKey) -> DeletionClaims:
    """Verify a receipt document and return its claims.

    Raises :class:`~protocol.errors.InvalidSignature` if the document is malformed,
    names another key, its signature does not cover these exact claims, or the
    claims are not a deletion receipt of this version.
    """
    claims = document.get("claims")
    signature = document.get("signature")
    if set(document) != {"claims", "key_id", "signature"} or not isinstance(claims, dict):
        raise InvalidSignature("not a receipt document")
    if document.get("key_id") != public_key.key_id.hex() or not isinstance(signature, str):
        raise InvalidSignature("receipt was signed by another key")
    try:
        raw = b64url_decode(signature, length=64)
    except ValueError:
        raise InvalidSignature("signature is not 64 bytes of canonical base64url") from None
    public_key.verify(raw, RECEIPT_DOMAIN + canonical_json(claims))
    return DeletionClaims.from_json(claims)


RECEIPT_LINK_VERSION = "r1"


def receipt_fragment(document: Mapping[str, Any]) -> str:
    """The receipt as a URL fragment: ``r1.<key id>.<base64url canonical claims>.<base64url signature>``.

    The claims travel as the exact bytes that were signed, so the receipt page
    verifies them without re-serialising JSON; a browser never sends a URL's
    fragment to the server, so the page's host does not learn whose receipt it shows.
    """
    claims = b64url_encode(canonical_json(document["claims"]))
    return ".".join((RECEIPT_LINK_VERSION, str(document["key_id"]), claims, str(document["signature"])))


def receipt_from_fragment(fragment: str) -> dict[str, Any]:
    """The receipt document a :func:`receipt_fragment` holds (not yet verified: see :func:`verify_receipt`).

    Raises :class:`~protocol.errors.InvalidSignature` when the fragment is not one.
    """
    parts = fragment.removeprefix("#").split(".")
    if len(parts) != 4 or parts[0] != RECEIPT_LINK_VERSION:
        raise InvalidSignature("not a receipt link")
    try:
        claims = json.loads(b64url_decode(parts[2]))
    except ValueError:
        raise InvalidSignature("the receipt link's claims are not base64url JSON") from None
    return {"claims": claims, "key_id": parts[1], "signature": parts[3]}
