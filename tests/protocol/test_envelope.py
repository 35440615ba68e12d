"""Envelope round trips, tampering (every byte) and strict parsing."""

from __future__ import annotations

import struct
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (
    InvalidEnvelope,
    RecipientPrivateKey,
    SigningKey,
    Suite,
    VerifyKey,
    open_envelope,
    parse_envelope,
    seal,
)
from protocol.envelope import HEADER_LENGTH, MAX_PLAINTEXT

DEVICE = SigningKey.generate()
RECIPIENTS = {suite: RecipientPrivateKey.generate(suite) for suite in Suite}


def sealed(payload: bytes, suite: Suite = Suite.MLKEM768_X25519) -> bytes:
    return seal(
        payload,
        recipient=RECIPIENTS[suite].public_key(),
        device_key=DEVICE,
        kiosk_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        nonce=bytes(32),
    )


def opened(data: bytes, **kwargs: Any) -> bytes:
    return open_envelope(
        parse_envelope(data),
        device_key=kwargs.get("device", DEVICE.public_key()),
        recipient_keys=kwargs.get("keys", list(RECIPIENTS.values())),
    )


@settings(max_examples=40, deadline=None)
@given(payload=st.binary(min_size=0, max_size=2048), suite=st.sampled_from(list(Suite)))
def test_round_trip(payload: bytes, suite: Suite) -> None:
    data = sealed(payload, suite)
    assert len(data) == HEADER_LENGTH + suite.enc_length + len(payload) + 16 + 64
    assert opened(data) == payload


@pytest.mark.parametrize("suite", list(Suite))
def test_flipping_any_byte_is_detected(suite: Suite) -> None:
    data = sealed(b"template bytes " * 8, suite)
    for position in range(len(data)):
        tampered = bytearray(data)
        tampered[position] ^= 0x80
        with pytest.raises(InvalidEnvelope) as err:
            opened(bytes(tampered))
        assert str(err.value) == "invalid envelope"


def test_truncated_and_extended_envelopes() -> None:
    data = sealed(b"x" * 100)
    for bad in (data[:-1], data + b"\x00", data[:HEADER_LENGTH], b"", data[: HEADER_LENGTH - 1]):
        with pytest.raises(InvalidEnvelope):
            opened(bad)


def test_unknown_version_and_suite() -> None:
    data = bytearray(sealed(b"x"))
    data[4] = 2
    with pytest.raises(InvalidEnvelope, match="invalid envelope") as err:
        parse_envelope(bytes(data))
    assert "version" in err.value.reason
    data[4], data[5] = 1, 9
    with pytest.raises(InvalidEnvelope) as err:
        parse_envelope(bytes(data))
    assert "suite" in err.value.reason


def test_lying_length_field() -> None:
    data = bytearray(sealed(b"x" * 10))
    struct.pack_into(">I", data, HEADER_LENGTH - 4, MAX_PLAINTEXT * 2)
    with pytest.raises(InvalidEnvelope):
        parse_envelope(bytes(data))


def test_wrong_device_key_and_wrong_recipient() -> None:
    data = sealed(b"x")
    with pytest.raises(InvalidEnvelope) as err:
        opened(data, device=SigningKey.generate().public_key())
    assert "signature" in err.value.reason
    with pytest.raises(InvalidEnvelope) as err:
        opened(data, keys=[RecipientPrivateKey.generate()])
    assert "recipient" in err.value.reason


def test_every_key_in_the_ring_is_tried() -> None:
    old = RECIPIENTS[Suite.X25519]
    data = sealed(b"sealed to the old key", Suite.X25519)
    ring = [RecipientPrivateKey.generate(Suite.X25519), RecipientPrivateKey.generate(), old]
    assert opened(data, keys=ring) == b"sealed to the old key"


def test_oversized_payload_cannot_be_sealed() -> None:
    with pytest.raises(ValueError, match="payload larger"):
        sealed(b"x" * (MAX_PLAINTEXT + 1))


def test_repr_hides_private_keys() -> None:
    key = RecipientPrivateKey.generate()
    assert key.raw.hex()[:16] not in repr(key)
    assert DEVICE.raw.hex()[:16] not in repr(DEVICE)
    assert isinstance(DEVICE.public_key(), VerifyKey)
