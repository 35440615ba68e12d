"""Audit checkpoints and version 2 receipts: exact claims, one spelling of the signature, versions kept apart."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt

import pytest

from protocol import (
    ChainHead,
    Checkpoint,
    DeletionClaims,
    InvalidSignature,
    SigningKey,
    canonical_json,
    sign_checkpoint,
    sign_receipt,
    verify_checkpoint,
    verify_receipt,
)
from protocol.checkpoint import CHECKPOINT_DOMAIN
from protocol.receipt import RECEIPT_DOMAIN

AT = dt.datetime(2026, 12, 4, 15, 0, tzinfo=dt.UTC)
HEAD = ChainHead(42, "cd" * 32)
V1 = DeletionClaims("r-1", "ab" * 32, 1, 1, AT)
V2 = dataclasses.replace(V1, audit=HEAD)


def _signed(domain: bytes, claims: dict[str, object], key: SigningKey) -> dict[str, object]:
    signature = base64.urlsafe_b64encode(key.sign(domain + canonical_json(claims))).decode().rstrip("=")
    return {"claims": claims, "key_id": key.public_key().key_id.hex(), "signature": signature}


def test_checkpoint_round_trip_and_claims() -> None:
    key = SigningKey.generate()
    document = sign_checkpoint(Checkpoint(HEAD, AT), key)
    assert document["claims"] == {
        "type": "lethe.audit-checkpoint",
        "version": 1,
        "entries": 42,
        "head": "cd" * 32,
        "at": "2026-12-04T15:00:00+00:00",
    }
    assert verify_checkpoint(document, key.public_key()) == Checkpoint(HEAD, AT)
    with pytest.raises(InvalidSignature):
        verify_checkpoint(document, SigningKey.generate().public_key())
    claims = document["claims"] | {"entries": 41}
    with pytest.raises(InvalidSignature):
        verify_checkpoint({**document, "claims": claims}, key.public_key())


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2},
        {"type": "lethe.deletion-receipt"},
        {"extra": 1},
        {"entries": -1},
        {"entries": True},
        {"head": "CD" * 32},
        {"head": "cd" * 31},
        {"at": "2026-12-04T15:00:00"},
    ],
)
def test_a_signed_checkpoint_whose_claims_are_not_these_claims_is_refused(change: dict[str, object]) -> None:
    key = SigningKey.generate()
    document = _signed(CHECKPOINT_DOMAIN, Checkpoint(HEAD, AT).to_json() | change, key)
    with pytest.raises(InvalidSignature):
        verify_checkpoint(document, key.public_key())


def test_a_receipt_is_not_a_checkpoint_and_back() -> None:
    key = SigningKey.generate()
    checkpoint_claims = Checkpoint(HEAD, AT).to_json()
    with pytest.raises(InvalidSignature):  # domain separation: a receipt signature never verifies a checkpoint
        verify_checkpoint(_signed(RECEIPT_DOMAIN, checkpoint_claims, key), key.public_key())
    with pytest.raises(InvalidSignature):
        verify_receipt(_signed(CHECKPOINT_DOMAIN, V2.to_json(), key), key.public_key())


def test_the_checkpoint_signature_has_one_spelling() -> None:
    key = SigningKey.generate()
    document = sign_checkpoint(Checkpoint(HEAD, AT), key)
    signature = str(document["signature"])
    last = signature[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = next(c for c in alphabet if c != last and alphabet.index(c) // 16 == alphabet.index(last) // 16)
    for variant in (signature + "==", signature[:-1] + sibling, signature.replace("-", "+").replace("_", "/")):
        if variant == signature:
            continue
        with pytest.raises(InvalidSignature):
            verify_checkpoint({**document, "signature": variant}, key.public_key())


def test_receipt_versions_one_and_two() -> None:
    key = SigningKey.generate()
    v2 = sign_receipt(V2, key)
    assert v2["claims"]["version"] == 2
    assert v2["claims"]["audit"] == {"entries": 42, "head": "cd" * 32}
    assert verify_receipt(v2, key.public_key()) == V2
    v1 = sign_receipt(V1, key)
    assert "audit" not in v1["claims"]
    assert verify_receipt(v1, key.public_key()) == V1  # receipts guests already hold stay valid


@pytest.mark.parametrize(
    ("base", "change"),
    [
        (V1, {"audit": {"entries": 1, "head": "00" * 32}}),  # version 1 has no audit head
        (V2, {"version": 1}),
        (V2, {"version": 3}),
        (V2, {"audit": {"entries": 1}}),
        (V2, {"audit": {"entries": "1", "head": "00" * 32}}),
        (V2, {"audit": None}),
    ],
)
def test_a_receipt_with_the_wrong_fields_for_its_version_is_refused(
    base: DeletionClaims, change: dict[str, object]
) -> None:
    key = SigningKey.generate()
    document = _signed(RECEIPT_DOMAIN, base.to_json() | change, key)
    with pytest.raises(InvalidSignature):
        verify_receipt(document, key.public_key())
