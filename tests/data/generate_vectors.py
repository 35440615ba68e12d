"""Regenerate ``protocol_vectors.json``: known-answer vectors for the wire formats.

Run from the project root: ``python -m tests.data.generate_vectors``. Keys are fixed
bytes; HPKE encryption is randomised (RFC 9180 draws a fresh ephemeral key), so
envelope vectors are checked by opening them, and every deterministic encoding
(template, payload, booking code and its derived keys, signatures, key ids, data
key) by its exact bytes. The template rotation is floating point: its vectors
are checked to 1e-12 (matrix) and 1e-6 (a rotated float32 template).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import numpy as np

from protocol import (
    BookingCode,
    CheckinPayload,
    DeletionClaims,
    RecipientPrivateKey,
    SigningKey,
    Suite,
    Template,
    encode_payload,
    encode_template,
    seal_at_time,
    sign_receipt,
)
from protocol.request import sign_request_at_time
from protocol.transform import _gaussian, rotate, rotation_matrix
from protocol.vault import _encrypt_from_parts, _wrap_from_parts, derive_data_key

OUT = Path(__file__).with_name("protocol_vectors.json")
DEVICE_KEY = SigningKey(bytes(range(32)))
RECEIPT_KEY = SigningKey(bytes(range(32, 64)))
RECIPIENTS = {
    Suite.X25519: RecipientPrivateKey(Suite.X25519, bytes(range(64, 96))),
    Suite.MLKEM768_X25519: RecipientPrivateKey(Suite.MLKEM768_X25519, bytes(range(96, 192))),
}
KIOSK = uuid.UUID("00000000-0000-4000-8000-000000000001")
SESSION = uuid.UUID("00000000-0000-4000-8000-000000000002")
RECEIPT_CLAIMS = DeletionClaims(
    receipt_id="00000000-0000-4000-8000-000000000003",
    stay_ref_digest="ab" * 32,
    templates=1,
    data_keys=1,
    deleted_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
)
NONCE = bytes(range(200, 232))
NOW = 1_795_000_000.0


def template(seed: int) -> Template:
    values = np.linspace(-1.0, 1.0, 128) * (seed + 1) + np.arange(128) % 7
    return Template.from_embedding("dlib-resnet-v1", values)


def main() -> None:
    live, id_template = template(1), template(2)
    code = BookingCode("ABCD2345", bytes(range(16)))
    payload = encode_payload(
        CheckinPayload(code.stay_secret, live, id_template, {"frames_fused": 5, "id_source": "image"})
    )
    envelopes = {
        suite.label: seal_at_time(
            payload,
            recipient=key.public_key(),
            device_key=DEVICE_KEY,
            kiosk_id=KIOSK,
            session_id=SESSION,
            nonce=NONCE,
            now=NOW,
        ).hex()
        for suite, key in RECIPIENTS.items()
    }
    seed, stay_id = bytes(range(32)), "00000000-0000-4000-8000-0000000000aa"
    data_key = derive_data_key(seed, code.stay_secret, stay_id=stay_id)
    vectors = {
        "device_private_key": DEVICE_KEY.raw.hex(),
        "device_public_key": DEVICE_KEY.public_key().raw.hex(),
        "receipt_private_key": RECEIPT_KEY.raw.hex(),
        "recipients": {
            suite.label: {
                "private": key.raw.hex(),
                "public": key.public_key().raw.hex(),
                "key_id": key.public_key().key_id.hex(),
            }
            for suite, key in RECIPIENTS.items()
        },
        "template_live": encode_template(live).hex(),
        "template_id": encode_template(id_template).hex(),
        "booking_code": str(code),
        "secret_fingerprint": code.fingerprint,
        "stay_secret": code.stay_secret.hex(),
        "transform_key": code.transform_key.hex(),
        "rotation": {
            "model_id": "dlib-resnet-v1",
            "gaussian_key": "00" * 32,
            "gaussian_first_8": _gaussian(bytes(32), 8).tolist(),
            "matrix_dim_4": rotation_matrix(code.transform_key, "dlib-resnet-v1", 4).tolist(),
            "matrix_dim_128_row_0": rotation_matrix(code.transform_key, "dlib-resnet-v1", 128)[0].tolist(),
            "rotated_template_live": encode_template(rotate(code.transform_key, live)[0]).hex(),
        },
        "payload": payload.hex(),
        "envelopes": envelopes,
        "kiosk_id": str(KIOSK),
        "session_id": str(SESSION),
        "nonce": NONCE.hex(),
        "timestamp_ms": int(NOW * 1000),
        "request_headers": sign_request_at_time(
            DEVICE_KEY, KIOSK, "POST", "/api/v1/sessions", b'{"booking_reference":"ABCD2345"}', now=NOW, nonce="a" * 32
        ),
        "receipt": sign_receipt(RECEIPT_CLAIMS, RECEIPT_KEY),
        "vault": {
            "key_seed": seed.hex(),
            "stay_id": stay_id,
            "data_key": data_key.hex(),
            "wrap_nonce": "00" * 12,
            "wrapped_seed": _wrap_from_parts(bytes(32), seed, stay_id=stay_id, nonce=bytes(12)).hex(),
            "record_id": "rec-1",
            "stored_template": _encrypt_from_parts(
                data_key, encode_template(live), record_id="rec-1", nonce=bytes(12)
            ).hex(),
        },
    }
    OUT.write_text(json.dumps(vectors, indent=2) + "\n")


if __name__ == "__main__":
    main()
