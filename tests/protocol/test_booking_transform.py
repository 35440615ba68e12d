"""Booking code version 2 and the template rotation: what the kiosk derives, and that matching is unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from protocol import (
    BookingCode,
    CheckinPayload,
    InvalidBookingCode,
    LivenessEvidence,
    Template,
    decode_payload,
    encode_payload,
    parse_booking_code,
    rotate,
)
from protocol.booking import derive_stay_secret
from protocol.transform import Rotation, rotation_matrix

MASTER = bytes(range(16))
KEY = BookingCode("ABCD2345", MASTER).transform_key


def test_version_1_codes_are_refused_with_a_clear_reason() -> None:
    with pytest.raises(InvalidBookingCode, match="version 1 booking codes"):
        parse_booking_code("LETHE1.ABCD2345.AAAAAAAAAAAAAAAAAAAAAAAAAA")


def test_the_two_derived_keys_are_separate_and_the_reference_does_not_change_them() -> None:
    code = BookingCode("ABCD2345", MASTER)
    assert code.stay_secret == derive_stay_secret(MASTER)
    assert len(code.stay_secret) == 16
    assert len(code.transform_key) == 32
    assert code.stay_secret not in (MASTER, code.transform_key[:16], code.transform_key[16:])
    assert BookingCode("ZZZZ9999", MASTER).transform_key == code.transform_key


@pytest.mark.parametrize("dimension", [4, 128, 512])
def test_the_matrix_is_orthogonal_and_keeps_every_score(dimension: int) -> None:
    q = rotation_matrix(KEY, "dlib-resnet-v1", dimension)
    assert np.abs(q @ q.T - np.eye(dimension)).max() < 1e-12
    rng = np.random.default_rng(dimension)
    a, b = (Template.from_embedding("dlib-resnet-v1", rng.normal(size=dimension)) for _ in range(2))
    ra, rb = rotate(KEY, a, b)
    assert abs(float(ra.vector @ rb.vector) - float(a.vector @ b.vector)) <= 1e-6
    assert not np.allclose(ra.vector, a.vector, atol=1e-3)


def test_each_code_and_each_model_has_its_own_matrix() -> None:
    other = BookingCode("ABCD2345", bytes(16)).transform_key
    base = rotation_matrix(KEY, "dlib-resnet-v1", 128)
    assert not np.allclose(base, rotation_matrix(other, "dlib-resnet-v1", 128))
    assert not np.allclose(base, rotation_matrix(KEY, "another-model", 128))
    assert np.array_equal(base, rotation_matrix(KEY, "dlib-resnet-v1", 128))


def test_the_matrix_is_haar_distributed_not_biased_by_qr() -> None:
    """Without Mezzadri's sign correction LAPACK's QR gives a first diagonal entry of one sign (mean about -0.4)."""
    diagonal = np.array([rotation_matrix(bytes([i]) * 32, "m", 4)[0, 0] for i in range(256)])
    # Haar on O(4): an entry has mean 0 and standard deviation 1/2, so the mean of 256 is within 4 × 0.031.
    assert abs(float(diagonal.mean())) < 0.125
    assert 0.35 < float(diagonal.std()) < 0.65


def test_rotation_refuses_another_model_and_hides_its_matrix() -> None:
    rotation = Rotation(KEY, "dlib-resnet-v1", 128)
    assert "dlib-resnet-v1" in repr(rotation)
    assert "[" not in repr(rotation)
    with pytest.raises(ValueError, match="model or dimension"):
        rotation.apply(Template.from_embedding("other", np.ones(128)))
    with pytest.raises(ValueError, match="32 bytes"):
        rotation_matrix(bytes(16), "dlib-resnet-v1", 128)


def test_payload_version_3_says_the_templates_are_rotated() -> None:
    live = Template.from_embedding("dlib-resnet-v1", np.arange(1, 129))
    liveness = LivenessEvidence(0.9, "minifasnet-v2+v1se", 3, "blink", True, bytes(32))
    payload = CheckinPayload(bytes(16), live, None, {}, liveness, rotated=True)
    data = encode_payload(payload)
    assert data[0] == 0x03
    assert decode_payload(data).rotated
    assert not decode_payload(encode_payload(CheckinPayload(bytes(16), live, None, {}, liveness))).rotated
    with pytest.raises(ValueError, match="liveness"):
        CheckinPayload(bytes(16), live, rotated=True)


def test_the_documented_stdlib_recipe_gives_the_same_code_and_fingerprint() -> None:
    """docs/protocol.md's PMS-side recipe (standard library only) agrees with protocol.booking."""
    import base64
    import hashlib
    import hmac

    reference, master = "PMS12345", bytes(range(100, 116))
    prk = hmac.new(bytes(32), master, hashlib.sha256).digest()
    stay_secret = hmac.new(prk, b"lethe/v2 stay-secret\0" + b"\x01", hashlib.sha256).digest()[:16]
    code = f"LETHE2.{reference}." + base64.b32encode(master).decode().rstrip("=")
    fingerprint = hashlib.sha256(b"lethe/v1 stay-secret-fingerprint\0" + stay_secret).hexdigest()
    parsed = parse_booking_code(code)
    assert parsed.stay_secret == stay_secret
    assert parsed.fingerprint == fingerprint
