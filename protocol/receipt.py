"""Deletion receipts: canonical JSON claims signed with the service's Ed25519 key.

A receipt document is ``{"claims": {...}, "key_id": "<hex>", "signature": "<base64url>"}``.
The signature covers ``RECEIPT_DOMAIN || canonical_json(claims)``. Anyone with
the service's receipt public key can verify it offline.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from protocol.errors import InvalidSignature
from protocol.keys import SigningKey, VerifyKey
from protocol.payload import canonical_json

RECEIPT_DOMAIN = b"lethe/v1 deletion-receipt\x00"


def sign_receipt(claims: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """Return a signed receipt document for ``claims``."""
    signature = key.sign(RECEIPT_DOMAIN + canonical_json(claims))
    return {
        "claims": dict(claims),
        "key_id": key.public_key().key_id.hex(),
        "signature": base64.urlsafe_b64encode(signature).decode("ascii").rstrip("="),
    }


def verify_receipt(document: Mapping[str, Any], public_key: VerifyKey) -> dict[str, Any]:
    """Verify a receipt document and return its claims.

    Raises :class:`~protocol.errors.InvalidSignature` if the document is malformed,
    names another key, or its signature does not cover these exact claims.
    """
    claims = document.get("claims")
    signature = document.get("signature")
    if set(document) != {"claims", "key_id", "signature"} or not isinstance(claims, dict):
        raise InvalidSignature("not a receipt document")
    if document.get("key_id") != public_key.key_id.hex() or not isinstance(signature, str):
        raise InvalidSignature("receipt was signed by another key")
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except (binascii.Error, ValueError):
        raise InvalidSignature("signature is not base64url") from None
    public_key.verify(raw, RECEIPT_DOMAIN + canonical_json(claims))
    return claims
