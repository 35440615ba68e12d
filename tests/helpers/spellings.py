"""Other spellings of a base64url text that lenient decoders read as the same bytes."""

from __future__ import annotations

import base64


def spellings(canonical: str) -> list[str]:
    """Other texts that Python's lenient decoders read as the same bytes as ``canonical`` (unpadded base64url)."""
    raw = base64.urlsafe_b64decode(canonical + "=" * (-len(canonical) % 4))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = canonical[-1]
    same_bytes = [
        canonical[:-1] + c
        for c in alphabet
        if c != last and base64.urlsafe_b64decode(canonical[:-1] + c + "=" * (-len(canonical) % 4)) == raw
    ]
    variants = [
        *same_bytes,
        canonical + "=" * (-len(canonical) % 4),
        canonical + "==",
        f" {canonical}",
        canonical + "\n",
    ]
    standard = base64.b64encode(raw).decode()
    variants += [standard, standard.rstrip("=")]  # "+" and "/" where base64url has "-" and "_"
    return [v for v in variants if v != canonical]
