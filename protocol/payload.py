"""The plaintext inside a check-in envelope.

Layout (big-endian lengths)::

    version:u8 = 0x01, 0x02 or 0x03 | stay_secret:16 | flags:u8
    | [id_len:u16 | id_template]        (present when flags bit 0 is set)
    | live_len:u16 | live_template
    | evidence_len:u16 | evidence         (canonical JSON object, UTF-8)

Evidence carries the kiosk's quality and liveness findings (numbers and flags,
never an image or a vector). Version 0x02 is version 0x01 whose evidence must
also hold a ``"liveness"`` object of exactly the fields of
:class:`LivenessEvidence`; in version 0x01 that key is refused. Parsing is
strict: unknown versions or flags, trailing bytes, non-canonical JSON and
liveness evidence with missing, extra or ill-typed fields are rejected.
Version 0x03 is version 0x02 whose templates the kiosk has rotated with the
booking code's transform key (:mod:`protocol.transform`); the bytes are laid
out the same, the version is the kiosk's statement.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.booking import SECRET_LENGTH
from protocol.errors import InvalidEnvelope, InvalidTemplate
from protocol.template import Template, decode_template, encode_template

PAYLOAD_VERSION_1 = 0x01
PAYLOAD_VERSION_2 = 0x02
PAYLOAD_VERSION = 0x03
FLAG_ID_TEMPLATE = 0x01
MAX_EVIDENCE = 4096
_U16 = struct.Struct(">H")
LIVENESS_KEY = "liveness"
CHALLENGES = frozenset({"none", "blink", "turn-left", "turn-right"})
NONCE_LENGTH = 32


@dataclass(frozen=True)
class LivenessEvidence:
    """The kiosk's liveness findings, bound to the session they were made for.

    ``passive_score`` is P(live) in [0, 1] (``None`` when no passive model ran)
    over ``frames`` frames; ``challenge`` is the one the service chose for the
    session and ``nonce`` that session's nonce, so evidence made for one session
    cannot be replayed into another.
    """

    passive_score: float | None
    passive_model: str | None
    frames: int
    challenge: str
    challenge_passed: bool
    nonce: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if self.passive_score is not None and not 0.0 <= self.passive_score <= 1.0:
            raise ValueError("passive_score must be in [0, 1]")
        if (self.passive_score is None) != (self.passive_model is None):
            raise ValueError("passive_score and passive_model go together")
        if self.challenge not in CHALLENGES or not 0 <= self.frames <= 10_000:
            raise ValueError("unknown challenge or bad frame count")
        if len(self.nonce) != NONCE_LENGTH:
            raise ValueError("nonce must be 32 bytes")

    def as_json(self) -> dict[str, Any]:
        return {
            "passive_score": self.passive_score,
            "passive_model": self.passive_model,
            "frames": self.frames,
            "challenge": self.challenge,
            "challenge_passed": self.challenge_passed,
            "nonce": self.nonce.hex(),
        }

    @classmethod
    def from_json(cls, value: object) -> LivenessEvidence:
        """Parse the evidence object strictly; raise :class:`InvalidEnvelope` on any deviation."""
        if not isinstance(value, dict) or set(value) != _LIVENESS_FIELDS:
            raise InvalidEnvelope("liveness evidence has missing or extra fields")
        score, model, frames = value["passive_score"], value["passive_model"], value["frames"]
        nonce, passed = value["nonce"], value["challenge_passed"]
        well_typed = (
            (score is None or (isinstance(score, int | float) and not isinstance(score, bool)))
            and (model is None or isinstance(model, str))
            and isinstance(frames, int)
            and not isinstance(frames, bool)
            and isinstance(value["challenge"], str)
            and isinstance(passed, bool)
            and isinstance(nonce, str)
            and len(nonce) == 2 * NONCE_LENGTH
        )
        if not well_typed:
            raise InvalidEnvelope("liveness evidence has ill-typed fields")
        try:
            evidence = cls(
                None if score is None else float(score), model, frames, value["challenge"], passed, bytes.fromhex(nonce)
            )
        except ValueError as exc:
            raise InvalidEnvelope(f"liveness evidence: {exc}") from None
        if evidence.nonce.hex() != nonce:
            raise InvalidEnvelope("liveness evidence nonce is not lower-case hex")
        return evidence


_LIVENESS_FIELDS = frozenset({"passive_score", "passive_model", "frames", "challenge", "challenge_passed", "nonce"})


@dataclass(frozen=True)
class CheckinPayload:
    """What the kiosk tells the service inside the sealed envelope.

    With ``rotated`` (the templates are rotated; needs ``liveness``) it is
    encoded as version 0x03, else with ``liveness`` as 0x02, without as 0x01.
    """

    stay_secret: bytes = field(repr=False)
    live: Template
    id_template: Template | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    liveness: LivenessEvidence | None = None
    rotated: bool = False

    def __post_init__(self) -> None:
        if self.rotated and self.liveness is None:
            raise ValueError("a rotated payload (version 3) carries liveness evidence")


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Serialise ``value`` as canonical JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def encode_payload(payload: CheckinPayload) -> bytes:
    if len(payload.stay_secret) != SECRET_LENGTH:
        raise ValueError("stay secret must be 16 bytes")
    if LIVENESS_KEY in payload.evidence:
        raise ValueError("put liveness evidence in CheckinPayload.liveness, not in evidence")
    document = dict(payload.evidence)
    if payload.liveness is not None:
        document[LIVENESS_KEY] = payload.liveness.as_json()
    evidence = canonical_json(document)
    if len(evidence) > MAX_EVIDENCE:
        raise ValueError("evidence too large")
    flags = FLAG_ID_TEMPLATE if payload.id_template is not None else 0
    if payload.rotated:
        version = PAYLOAD_VERSION
    else:
        version = PAYLOAD_VERSION_2 if payload.liveness is not None else PAYLOAD_VERSION_1
    parts = [bytes([version]), payload.stay_secret, bytes([flags])]
    if payload.id_template is not None:
        parts.append(_field(encode_template(payload.id_template)))
    parts += [_field(encode_template(payload.live)), _field(evidence)]
    return b"".join(parts)


def decode_payload(data: bytes) -> CheckinPayload:
    """Parse payload bytes strictly; raise :class:`InvalidEnvelope` on any deviation."""
    reader = _Reader(data)
    version = reader.take(1)[0]
    if version not in (PAYLOAD_VERSION_1, PAYLOAD_VERSION_2, PAYLOAD_VERSION):
        raise InvalidEnvelope("unknown payload version")
    secret = reader.take(SECRET_LENGTH)
    flags = reader.take(1)[0]
    if flags & ~FLAG_ID_TEMPLATE:
        raise InvalidEnvelope("unknown payload flags")
    try:
        id_template = decode_template(reader.field()) if flags & FLAG_ID_TEMPLATE else None
        live = decode_template(reader.field())
    except InvalidTemplate as exc:
        raise InvalidEnvelope(f"bad template: {exc}") from None
    evidence_bytes = reader.field()
    reader.finish()
    try:
        evidence = json.loads(evidence_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidEnvelope("evidence is not JSON") from None
    if not isinstance(evidence, dict) or canonical_json(evidence) != evidence_bytes:
        raise InvalidEnvelope("evidence is not a canonical JSON object")
    liveness = None
    if version != PAYLOAD_VERSION_1:
        if LIVENESS_KEY not in evidence:
            raise InvalidEnvelope(f"version {version} payload without liveness evidence")
        liveness = LivenessEvidence.from_json(evidence.pop(LIVENESS_KEY))
    elif LIVENESS_KEY in evidence:
        raise InvalidEnvelope("liveness evidence in a version 1 payload")
    return CheckinPayload(
        stay_secret=secret,
        live=live,
        id_template=id_template,
        evidence=evidence,
        liveness=liveness,
        rotated=version == PAYLOAD_VERSION,
    )


def _field(data: bytes) -> bytes:
    return _U16.pack(len(data)) + data


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise InvalidEnvelope("payload truncated")
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def field(self) -> bytes:
        (length,) = _U16.unpack(self.take(2))
        return self.take(length)

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise InvalidEnvelope("trailing bytes in payload")
