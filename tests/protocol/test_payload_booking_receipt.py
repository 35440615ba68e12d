"""Payload strictness, booking codes, receipts and request signatures."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from protocol import (
    CheckinPayload,
    InvalidBookingCode,
    InvalidEnvelope,
    InvalidSignature,
    SigningKey,
    Template,
    decode_payload,
    encode_payload,
    parse_booking_code,
    parse_request_headers,
    sign_receipt,
    sign_request,
    verify_receipt,
    verify_request,
)
from protocol.booking import BookingCode, new_stay_secret

LIVE = Template.from_embedding("dlib-resnet-v1", np.arange(1, 129))


def payload_bytes(**kwargs: object) -> bytes:
    fields: dict[str, object] = {"stay_secret": bytes(16), "live": LIVE, "id_template": LIVE, "evidence": {"a": 1}}
    fields.update(kwargs)
    return encode_payload(CheckinPayload(**fields))  # type: ignore[arg-type]


def test_payload_round_trip_without_id_template() -> None:
    decoded = decode_payload(payload_bytes(id_template=None))
    assert decoded.id_template is None
    assert np.array_equal(decoded.live.vector, LIVE.vector)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b + b"\x00",
        lambda b: b[:-1],
        lambda b: b"\x02" + b[1:],
        lambda b: b[:17] + b"\x03" + b[18:],
        lambda b: b.replace(b'{"a":1}', b'{"a": 1}'),
        lambda b: b.replace(b'{"a":1}', b'["a",1]'),
    ],
    ids=["trailing", "truncated", "version", "flags", "non-canonical-json", "not-an-object"],
)
def test_payload_is_parsed_strictly(mutate) -> None:
    with pytest.raises(InvalidEnvelope):
        decode_payload(mutate(payload_bytes()))


def test_booking_code_round_trip_and_errors() -> None:
    code = BookingCode("ABCD2345", new_stay_secret())
    assert parse_booking_code(str(code)) == code
    assert code.secret.hex() not in repr(code)
    for bad in (
        "",
        "LETHE1.ABCD2345",
        "LETHE2.ABCD2345.AAAAAAAAAAAAAAAAAAAAAAAAAA",
        "LETHE1.abc.AAAAAAAAAAAAAAAAAAAAAAAAAA",
        "LETHE1.ABCD2345.AAAA",
        "LETHE1.ABCD2345.11111111111111111111111111",
    ):
        with pytest.raises(InvalidBookingCode):
            parse_booking_code(bad)


def test_receipt_requires_exact_document_and_key() -> None:
    key = SigningKey.generate()
    receipt = sign_receipt({"deleted": {"templates": 2}}, key)
    assert verify_receipt(receipt, key.public_key()) == {"deleted": {"templates": 2}}
    with pytest.raises(InvalidSignature):
        verify_receipt(receipt, SigningKey.generate().public_key())
    with pytest.raises(InvalidSignature):
        verify_receipt({**receipt, "extra": 1}, key.public_key())
    with pytest.raises(InvalidSignature):
        verify_receipt({**receipt, "signature": "!!"}, key.public_key())


def test_request_signature_covers_method_path_and_body() -> None:
    key, kiosk = SigningKey.generate(), uuid.uuid4()
    headers = sign_request(key, kiosk, "POST", "/api/v1/sessions", b"{}")
    signed = parse_request_headers(headers)
    verify_request(key.public_key(), signed, "POST", "/api/v1/sessions", b"{}")
    for method, path, body in (
        ("GET", "/api/v1/sessions", b"{}"),
        ("POST", "/api/v1/other", b"{}"),
        ("POST", "/api/v1/sessions", b"{ }"),
    ):
        with pytest.raises(InvalidSignature):
            verify_request(key.public_key(), signed, method, path, body)
    with pytest.raises(InvalidSignature):
        parse_request_headers({k: v for k, v in headers.items() if k != "Lethe-Signature"})
