"""Payload version 2: liveness evidence inside the sealed payload, parsed strictly; version 1 unchanged."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from protocol import CheckinPayload, InvalidEnvelope, LivenessEvidence, Template, decode_payload, encode_payload
from protocol.payload import canonical_json

LIVE = Template.from_embedding("dlib-resnet-v1", np.arange(1, 129))
NONCE = bytes(range(32))
EVIDENCE = LivenessEvidence(0.97, "minifasnet-v2+v1se", 5, "blink", True, NONCE)


def encoded(liveness: LivenessEvidence | None = EVIDENCE) -> bytes:
    return encode_payload(
        CheckinPayload(stay_secret=bytes(16), live=LIVE, evidence={"frames_fused": 5}, liveness=liveness)
    )


def with_liveness_json(data: bytes, value: object) -> bytes:
    """Rewrite the evidence field of an (ID-template-free) payload with ``liveness`` replaced."""
    head, evidence = data[: -len(_evidence(data)) - 2], _evidence(data)
    document = json.loads(evidence) | {"liveness": value}
    raw = canonical_json(document)
    return head + len(raw).to_bytes(2, "big") + raw


def _evidence(data: bytes) -> bytes:
    live_len = int.from_bytes(data[18:20], "big")
    return data[20 + live_len + 2 :]


def test_round_trip_is_version_2() -> None:
    data = encoded()
    assert data[0] == 0x02
    decoded = decode_payload(data)
    assert decoded.liveness == EVIDENCE
    assert dict(decoded.evidence) == {"frames_fused": 5}


def test_without_liveness_it_stays_version_1() -> None:
    data = encoded(None)
    assert data[0] == 0x01
    assert decode_payload(data).liveness is None


def test_nonce_is_hidden_from_repr() -> None:
    assert NONCE.hex() not in repr(EVIDENCE)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d | {"extra": 1},
        lambda d: {k: v for k, v in d.items() if k != "frames"},
        lambda d: d | {"passive_score": 1.5},
        lambda d: d | {"passive_score": True},
        lambda d: d | {"passive_score": None},
        lambda d: d | {"frames": "5"},
        lambda d: d | {"challenge": "smile"},
        lambda d: d | {"challenge_passed": 1},
        lambda d: d | {"nonce": "ab" * 31},
        lambda d: d | {"nonce": NONCE.hex().upper()},
        lambda d: "not an object",
    ],
    ids=[
        "extra-field", "missing-field", "score-range", "score-bool", "score-without-model", "frames-type",
        "unknown-challenge", "passed-type", "nonce-length", "nonce-upper-case", "not-an-object",
    ],
)  # fmt: skip
def test_liveness_evidence_is_parsed_strictly(change) -> None:
    data = with_liveness_json(encoded(), change(EVIDENCE.as_json()))
    with pytest.raises(InvalidEnvelope):
        decode_payload(data)


def test_versions_do_not_mix() -> None:
    v2 = encoded()
    with pytest.raises(InvalidEnvelope) as v2_as_v1:
        decode_payload(b"\x01" + v2[1:])
    assert "version 1" in v2_as_v1.value.reason
    with pytest.raises(InvalidEnvelope) as v1_as_v2:
        decode_payload(b"\x02" + encoded(None)[1:])
    assert "without liveness" in v1_as_v2.value.reason


def test_liveness_cannot_be_smuggled_in_free_evidence() -> None:
    with pytest.raises(ValueError, match="liveness"):
        encode_payload(CheckinPayload(stay_secret=bytes(16), live=LIVE, evidence={"liveness": {}}))


def test_evidence_is_checked_when_made() -> None:
    with pytest.raises(ValueError, match="nonce"):
        LivenessEvidence(0.5, "m", 1, "none", True, b"short")
    with pytest.raises(ValueError, match="together"):
        LivenessEvidence(0.5, None, 1, "none", True, NONCE)


def test_known_answer() -> None:
    """The exact bytes of a version 2 payload: evidence JSON canonical, liveness nested under its key."""
    data = encoded()
    assert hashlib.sha256(data).hexdigest() == "a67114eebf202a9697922f0533ebfcee720dbbfa0ca2584d29eaf7d80456666d"
    assert data.endswith(
        b'{"frames_fused":5,"liveness":{"challenge":"blink","challenge_passed":true,"frames":5,'
        b'"nonce":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",'
        b'"passive_model":"minifasnet-v2+v1se","passive_score":0.97}}'
    )
