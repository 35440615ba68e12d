"""Deletion receipts: canonical JSON claims signed with the service's Ed25519 key.

A receipt document is ``{"claims": {...}, "key_id": "<hex>", "signature": "<base64url>"}``.
The signature covers ``RECEIPT_DOMAIN || canonical_json(claims)``. Anyone with
the service's receipt public key can verify it offline.
"""

from __future__ import annotations

import base64
import binascii
import json
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


RECEIPT_LINK_VERSION = "r1"


def receipt_fragment(document: Mapping[str, Any]) -> str:
    """The receipt as a URL fragment: ``r1.<key id>.<base64url canonical claims>.<base64url signature>``.

    The claims travel as the exact bytes that were signed, so the receipt page
    verifies them without re-serialising JSON; a browser never sends a URL's
    fragment to the server, so the page's host does not learn whose receipt it shows.
    """
    claims = base64.urlsafe_b64encode(canonical_json(document["claims"])).decode("ascii").rstrip("=")
    return ".".join((RECEIPT_LINK_VERSION, str(document["key_id"]), claims, str(document["signature"])))


def receipt_from_fragment(fragment: str) -> dict[str, Any]:
    """The receipt document a :func:`receipt_fragment` holds (not yet verified: see :func:`verify_receipt`).

    Raises :class:`~protocol.errors.InvalidSignature` when the fragment is not one.
    """
    parts = fragment.removeprefix("#").split(".")
    if len(parts) != 4 or parts[0] != RECEIPT_LINK_VERSION:
        raise InvalidSignature("not a receipt link")
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidSignature("the receipt link's claims are not base64url JSON") from None
    return {"claims": claims, "key_id": parts[1], "signature": parts[3]}
