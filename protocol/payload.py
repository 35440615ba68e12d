"""The plaintext inside a check-in envelope.

Layout (big-endian lengths)::

    version:u8 = 0x01 | stay_secret:16 | flags:u8
    | [id_len:u16 | id_template]        (present when flags bit 0 is set)
    | live_len:u16 | live_template
    | evidence_len:u16 | evidence         (canonical JSON object, UTF-8)

Evidence carries the kiosk's quality and liveness findings (numbers and flags,
never an image or a vector). Parsing is strict: unknown versions or flags,
trailing bytes and non-canonical JSON are rejected.
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

PAYLOAD_VERSION = 0x01
FLAG_ID_TEMPLATE = 0x01
MAX_EVIDENCE = 4096
_U16 = struct.Struct(">H")


@dataclass(frozen=True)
class CheckinPayload:
    """What the kiosk tells the service inside the sealed envelope."""

    stay_secret: bytes = field(repr=False)
    live: Template
    id_template: Template | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Serialise ``value`` as canonical JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def encode_payload(payload: CheckinPayload) -> bytes:
    if len(payload.stay_secret) != SECRET_LENGTH:
        raise ValueError("stay secret must be 16 bytes")
    evidence = canonical_json(payload.evidence)
    if len(evidence) > MAX_EVIDENCE:
        raise ValueError("evidence too large")
    flags = FLAG_ID_TEMPLATE if payload.id_template is not None else 0
    parts = [bytes([PAYLOAD_VERSION]), payload.stay_secret, bytes([flags])]
    if payload.id_template is not None:
        parts.append(_field(encode_template(payload.id_template)))
    parts += [_field(encode_template(payload.live)), _field(evidence)]
    return b"".join(parts)


def decode_payload(data: bytes) -> CheckinPayload:
    """Parse payload bytes strictly; raise :class:`InvalidEnvelope` on any deviation."""
    reader = _Reader(data)
    if reader.take(1)[0] != PAYLOAD_VERSION:
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
    return CheckinPayload(stay_secret=secret, live=live, id_template=id_template, evidence=evidence)


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
