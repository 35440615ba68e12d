"""One spelling for each signature and key: every other spelling of the same bytes is refused."""

from __future__ import annotations

import base64
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import InvalidSignature, SigningKey, parse_request_headers, sign_request, verify_receipt
from protocol.encoding import b64_decode, b64url_decode, b64url_encode
from protocol.receipt import DeletionClaims, sign_receipt
from tests.helpers.spellings import spellings


def signature_with(marks: str) -> tuple[SigningKey, str]:
    """A key and a request signature whose base64url text holds ``marks`` ("-" or "_"), so "+"/"/" differ."""
    key = SigningKey.generate()
    for _ in range(1000):
        text = b64url_encode(key.sign(uuid.uuid4().bytes))
        if all(m in text for m in marks):
            return key, text
    raise AssertionError("no signature with both marks")  # pragma: no cover


def test_a_64_byte_signature_has_sixteen_lenient_spellings_and_one_strict() -> None:
    _, text = signature_with("-_")
    others = spellings(text)
    assert len([v for v in others if len(v) == len(text)]) >= 15 + 1  # 15 other last characters, the "+/" one
    assert b64url_decode(text, length=64)
    for other in others:
        with pytest.raises(ValueError, match=r"base64|bytes"):
            b64url_decode(other, length=64)


def test_every_other_spelling_of_a_request_signature_is_refused() -> None:
    key, kiosk = SigningKey.generate(), uuid.uuid4()
    for _ in range(200):
        headers = sign_request(key, kiosk, "POST", "/api/v1/sessions", b"{}")
        if "-" in headers["Lethe-Signature"] or "_" in headers["Lethe-Signature"]:
            break
    assert parse_request_headers(headers)
    for other in spellings(headers["Lethe-Signature"]):
        with pytest.raises(InvalidSignature):
            parse_request_headers({**headers, "Lethe-Signature": other})


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Lethe-Request-Nonce", "ｎｏｎｃｅ１２３４５６７８９０１２"),  # full-width letters: str.isalnum() says yes
        ("Lethe-Request-Nonce", "nonce1234567890é"),
        ("Lethe-Request-Nonce", "٠١٢٣٤٥٦٧٨٩٠١٢٣٤٥"),  # Arabic-Indic digits
        ("Lethe-Timestamp", "+{ts}"),
        ("Lethe-Timestamp", "0{ts}"),
        ("Lethe-Timestamp", " {ts}"),
        ("Lethe-Timestamp", "{ts}_0"),
        ("Lethe-Timestamp", "-1"),
        ("Lethe-Timestamp", "١٧٠٠٠٠٠٠٠٠٠٠٠"),
        ("Lethe-Kiosk", "{kiosk_upper}"),
        ("Lethe-Kiosk", "{{{kiosk}}}"),
        ("Lethe-Kiosk", "urn:uuid:{kiosk}"),
        ("Lethe-Kiosk", "{kiosk_hex}"),
    ],
)
def test_request_headers_have_one_spelling(header: str, value: str) -> None:
    """Regression: non-ASCII nonces, ``+<ms>`` timestamps and other spellings of the kiosk id were accepted."""
    key, kiosk = SigningKey.generate(), uuid.uuid4()
    headers = sign_request(key, kiosk, "POST", "/api/v1/sessions", b"{}")
    text = value.format(ts=headers["Lethe-Timestamp"], kiosk=kiosk, kiosk_upper=str(kiosk).upper(), kiosk_hex=kiosk.hex)
    with pytest.raises(InvalidSignature):
        parse_request_headers({**headers, header: text})


def test_every_other_spelling_of_a_receipt_signature_is_refused() -> None:
    import datetime as dt

    key = SigningKey.generate()
    claims = DeletionClaims("r-1", "ab" * 32, 1, 1, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    receipt = sign_receipt(claims, key)
    assert verify_receipt(receipt, key.public_key()) == claims
    for other in spellings(receipt["signature"]):
        with pytest.raises(InvalidSignature):
            verify_receipt({**receipt, "signature": other}, key.public_key())


@pytest.mark.parametrize(
    "text",
    ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "AAAA AAA="],
)
def test_standard_base64_keys_are_read_in_their_canonical_spelling_only(text: str) -> None:
    with pytest.raises(ValueError, match=r"base64|bytes"):
        b64_decode(text, length=32)
    assert b64_decode("A" * 43 + "=", length=32) == bytes(32)


@given(st.binary(max_size=100))
def test_the_strict_decoders_read_what_the_encoders_write(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data
    assert b64_decode(base64.b64encode(data).decode()) == data
