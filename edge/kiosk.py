"""The headless kiosk: one guest's check-in from booking code to decision.

Stages, in order: parse the booking code → open a session with the service →
template the ID portrait → capture and fuse the live template → seal, sign and
post → report the decision. Frames and templates stay in memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.backends import create_backend
from edge.capture import LiveCapture
from edge.client import ServiceClient
from edge.errors import InvalidBookingCodeError
from edge.identity import load_identity
from edge.idrecord import id_template_from_image
from edge.settings import KioskSettings
from edge.sources import open_source
from models import load_manifest
from protocol import CheckinPayload, InvalidBookingCode, Suite, encode_payload, parse_booking_code, seal


@dataclass(frozen=True)
class CheckinOutcome:
    decision: dict[str, Any]
    frames_seen: int
    frames_fused: int
    seconds_to_decision: float

    def as_json(self) -> dict[str, Any]:
        return self.decision | {
            "frames_seen": self.frames_seen,
            "frames_fused": self.frames_fused,
            "seconds_to_decision": round(self.seconds_to_decision, 3),
        }


def run_checkin(
    settings: KioskSettings, *, source: str, id_image: Path, booking: str, realtime: bool = False
) -> CheckinOutcome:
    """Check one guest in. Raises an :class:`~edge.errors.EdgeError` for anything but a decision."""
    started = time.monotonic()
    try:
        code = parse_booking_code(booking)
    except InvalidBookingCode as exc:
        raise InvalidBookingCodeError(str(exc)) from None
    identity = load_identity(settings.key_file)
    backend = create_backend(settings.backend)
    threshold = load_manifest().threshold(backend.model_id)
    client = ServiceClient(settings.service_url, timeout_s=settings.http_timeout_s)
    try:
        recipient = client.recipient_key(Suite.from_label(settings.suite))
        session = client.open_session(identity, code.reference)
        id_template = id_template_from_image(backend, id_image, jitters=settings.id_jitters)
        with open_source(source, realtime=realtime) as frames:
            capture = LiveCapture(backend, settings, match_threshold=threshold).run(frames)
        payload = CheckinPayload(
            stay_secret=code.secret,
            live=capture.template,
            id_template=id_template,
            evidence=capture.evidence() | {"id_source": "image"},
        )
        envelope = seal(
            encode_payload(payload),
            recipient=recipient,
            device_key=identity.key,
            kiosk_id=identity.kiosk_id,
            session_id=session.session_id,
            nonce=session.nonce,
        )
        decision = client.verify(envelope)
    finally:
        client.close()
    return CheckinOutcome(decision, capture.frames_seen, capture.frames_fused, time.monotonic() - started)
