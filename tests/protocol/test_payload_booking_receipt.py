"""Payload strictness, booking codes, receipts and request signatures."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import numpy as np
import pytest

from protocol import (
    CheckinPayload,
    DeletionClaims,
    InvalidBookingCode,
    InvalidEnvelope,
    InvalidSignature,
    SigningKey,
    Template,
    canonical_json,
    decode_payload,
    encode_payload,
    parse_booking_code,
    parse_request_headers,
    sign_receipt,
    sign_request,
    verify_receipt,
    verify_request,
)
from protocol.booking import BookingCode, new_master_secret
from protocol.receipt import RECEIPT_DOMAIN

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
    code = BookingCode("ABCD2345", new_master_secret())
    assert parse_booking_code(str(code)) == code
    assert all(s.hex() not in repr(code) for s in (code.master_secret, code.stay_secret, code.transform_key))
    for bad in (
        "",
        "LETHE2.ABCD2345",
        "LETHE3.ABCD2345.AAAAAAAAAAAAAAAAAAAAAAAAAA",
        "LETHE2.abc.AAAAAAAAAAAAAAAAAAAAAAAAAA",
        "LETHE2.ABCD2345.AAAA",
        "LETHE2.ABCD2345.11111111111111111111111111",
        "LETHE2.ABCD2345.AAAAAAAAAAAAAAAAAAAAAAAAAB",
    ):
        with pytest.raises(InvalidBookingCode):
            parse_booking_code(bad)


CLAIMS = DeletionClaims("r-1", "ab" * 32, 2, 1, dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC))


def test_receipt_requires_exact_document_and_key() -> None:
    key = SigningKey.generate()
    receipt = sign_receipt(CLAIMS, key)
    assert verify_receipt(receipt, key.public_key()) == CLAIMS
    assert receipt["claims"] == {
        "type": "lethe.deletion-receipt",
        "version": 1,
        "receipt_id": "r-1",
        "stay_ref_digest": "ab" * 32,
        "deleted": {"templates": 2, "data_keys": 1},
        "deleted_at": "2026-01-01T12:00:00+00:00",
    }
    with pytest.raises(InvalidSignature):
        verify_receipt(receipt, SigningKey.generate().public_key())
    with pytest.raises(InvalidSignature):
        verify_receipt({**receipt, "extra": 1}, key.public_key())
    with pytest.raises(InvalidSignature):
        verify_receipt({**receipt, "signature": "!!"}, key.public_key())


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2},
        {"type": "lethe.other"},
        {"extra": 1},
        {"deleted": {"templates": 2}},
        {"deleted": {"templates": -1, "data_keys": 1}},
        {"deleted": {"templates": True, "data_keys": 1}},
        {"deleted_at": "yesterday"},
        {"deleted_at": "2026-01-01T12:00:00"},
        {"receipt_id": 7},
    ],
)
def test_a_signed_receipt_whose_claims_are_not_these_claims_is_refused(change: dict[str, object]) -> None:
    key = SigningKey.generate()
    claims = CLAIMS.to_json() | change
    document = {
        "claims": claims,
        "key_id": key.public_key().key_id.hex(),
        "signature": base64.urlsafe_b64encode(key.sign(RECEIPT_DOMAIN + canonical_json(claims))).decode().rstrip("="),
    }
    with pytest.raises(InvalidSignature):
        verify_receipt(document, key.public_key())


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
