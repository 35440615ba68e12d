"""Known-answer vectors (tests/data/protocol_vectors.json): the wire formats do not drift."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest

from protocol import (
    RecipientPrivateKey,
    SigningKey,
    Suite,
    VerifyKey,
    decode_payload,
    decode_template,
    encode_payload,
    encode_template,
    open_envelope,
    parse_booking_code,
    parse_envelope,
    parse_request_headers,
    sign_receipt,
    verify_receipt,
    verify_request,
)
from protocol.transform import _gaussian, rotate, rotation_matrix
from protocol.vault import _encrypt_from_parts, _wrap_from_parts, decrypt_template, derive_data_key, unwrap_key_seed


def test_keys_and_key_ids(vectors: dict[str, Any]) -> None:
    assert (
        SigningKey(bytes.fromhex(vectors["device_private_key"])).public_key().raw.hex() == vectors["device_public_key"]
    )
    for label, entry in vectors["recipients"].items():
        key = RecipientPrivateKey(Suite.from_label(label), bytes.fromhex(entry["private"]))
        assert key.public_key().raw.hex() == entry["public"]
        assert key.public_key().key_id.hex() == entry["key_id"]


def test_template_and_payload_encodings(vectors: dict[str, Any]) -> None:
    live = decode_template(bytes.fromhex(vectors["template_live"]))
    assert encode_template(live).hex() == vectors["template_live"]
    assert live.model_id == "dlib-resnet-v1"
    assert live.dimension == 128
    payload = decode_payload(bytes.fromhex(vectors["payload"]))
    assert encode_payload(payload).hex() == vectors["payload"]
    assert encode_template(payload.live).hex() == vectors["template_live"]
    assert payload.id_template is not None
    assert encode_template(payload.id_template).hex() == vectors["template_id"]
    assert payload.stay_secret == parse_booking_code(vectors["booking_code"]).stay_secret
    assert dict(payload.evidence) == {"frames_fused": 5, "id_source": "image"}


def test_booking_code(vectors: dict[str, Any]) -> None:
    code = parse_booking_code(vectors["booking_code"])
    assert str(code) == vectors["booking_code"]
    assert code.stay_secret.hex() == vectors["stay_secret"]
    assert code.transform_key.hex() == vectors["transform_key"]
    assert code.fingerprint == vectors["secret_fingerprint"]


def test_template_rotation(vectors: dict[str, Any]) -> None:
    """The rotation agrees with the recorded one to float precision (another CPU, BLAS or libm may round otherwise)."""
    v = vectors["rotation"]
    key = parse_booking_code(vectors["booking_code"]).transform_key
    assert np.allclose(_gaussian(bytes.fromhex(v["gaussian_key"]), 8), v["gaussian_first_8"], rtol=0, atol=1e-12)
    assert np.allclose(rotation_matrix(key, v["model_id"], 4), v["matrix_dim_4"], rtol=0, atol=1e-12)
    assert np.allclose(rotation_matrix(key, v["model_id"], 128)[0], v["matrix_dim_128_row_0"], rtol=0, atol=1e-12)
    rotated = rotate(key, decode_template(bytes.fromhex(vectors["template_live"])))[0]
    expected = decode_template(bytes.fromhex(v["rotated_template_live"]))
    assert np.allclose(rotated.vector, expected.vector, rtol=0, atol=1e-6)


@pytest.mark.parametrize("label", ["x25519", "mlkem768-x25519"])
def test_envelopes_open_to_the_known_payload(vectors: dict[str, Any], label: str) -> None:
    envelope = parse_envelope(bytes.fromhex(vectors["envelopes"][label]))
    assert envelope.header.suite is Suite.from_label(label)
    assert envelope.header.kiosk_id == uuid.UUID(vectors["kiosk_id"])
    assert envelope.header.session_id == uuid.UUID(vectors["session_id"])
    assert envelope.header.nonce.hex() == vectors["nonce"]
    assert envelope.header.timestamp_ms == vectors["timestamp_ms"]
    assert envelope.header.recipient_key_id.hex() == vectors["recipients"][label]["key_id"]
    recipient = RecipientPrivateKey(Suite.from_label(label), bytes.fromhex(vectors["recipients"][label]["private"]))
    device = VerifyKey(bytes.fromhex(vectors["device_public_key"]))
    assert open_envelope(envelope, device_key=device, recipient_keys=[recipient]).hex() == vectors["payload"]


def test_request_signature(vectors: dict[str, Any]) -> None:
    signed = parse_request_headers(vectors["request_headers"])
    device = VerifyKey(bytes.fromhex(vectors["device_public_key"]))
    verify_request(device, signed, "POST", "/api/v1/sessions", b'{"booking_reference":"ABCD2345"}')


def test_receipt_signature(vectors: dict[str, Any]) -> None:
    key = SigningKey(bytes.fromhex(vectors["receipt_private_key"])).public_key()
    claims = verify_receipt(vectors["receipt"], key)
    assert (claims.templates, claims.data_keys) == (1, 1)
    # Parsed and signed again, the claims give the same bytes: the format did not drift.
    assert sign_receipt(claims, SigningKey(bytes.fromhex(vectors["receipt_private_key"]))) == vectors["receipt"]


def test_vault(vectors: dict[str, Any]) -> None:
    v = vectors["vault"]
    seed = bytes.fromhex(v["key_seed"])
    secret = parse_booking_code(vectors["booking_code"]).stay_secret
    data_key = derive_data_key(seed, secret, stay_id=v["stay_id"])
    assert data_key.hex() == v["data_key"]
    assert _wrap_from_parts(bytes(32), seed, stay_id=v["stay_id"], nonce=bytes(12)).hex() == v["wrapped_seed"]
    assert unwrap_key_seed(bytes(32), bytes.fromhex(v["wrapped_seed"]), stay_id=v["stay_id"]) == seed
    live = bytes.fromhex(vectors["template_live"])
    assert _encrypt_from_parts(data_key, live, record_id=v["record_id"], nonce=bytes(12)).hex() == v["stored_template"]
    assert decrypt_template(data_key, bytes.fromhex(v["stored_template"]), record_id=v["record_id"]) == live
