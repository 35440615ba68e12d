"""The headless kiosk: one guest's check-in from booking code to decision.

Stages, in order: parse the booking code → open a session with the service
(which names the liveness challenge) → template the ID portrait (from an image
file, or from the document the guest holds up to the camera) → capture:
quality gate, passive liveness and the challenge, then fuse the live template →
seal the template and the liveness evidence (bound to the session nonce), sign
and post → report the decision. Frames and templates stay in memory.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edge.backends import Embedder, create_backend
from edge.capture import LiveCapture
from edge.client import ServiceClient
from edge.errors import ConsentRefused, EdgeError, InvalidBookingCodeError
from edge.identity import KioskIdentity, load_identity
from edge.idrecord import id_template_from_image, id_template_from_source
from edge.landmarks import LandmarkModel
from edge.liveness import MODEL_NAME, PassiveLiveness
from edge.qr import read_booking
from edge.settings import KioskSettings
from edge.sources import FrameSource, Image, TappedSource, open_source
from models import load_manifest
from protocol import (
    CheckinPayload,
    InvalidBookingCode,
    LivenessEvidence,
    Suite,
    encode_payload,
    parse_booking_code,
    rotate,
    seal,
)

log = logging.getLogger(__name__)


class GuestScreenHooks(Protocol):
    """What the guest's screen (``edge/screen.py``) needs from a check-in run."""

    def step(self, screen: str, **details: Any) -> None: ...

    def show_frame(self, image: Image) -> None: ...

    def cancelled(self) -> bool: ...

    def ask_consent(self, notice: Mapping[str, Any] | None) -> int:
        """Block until the guest accepts (return the notice version) or refuses (raise ConsentRefused)."""
        ...


def _check_cancelled(screen: GuestScreenHooks | None) -> None:
    if screen is not None and screen.cancelled():
        raise ConsentRefused("the guest chose the front desk")


@dataclass(frozen=True)
class CheckinOutcome:
    decision: dict[str, Any]
    frames_seen: int
    frames_fused: int
    seconds_to_decision: float
    seconds_from_first_frame: float
    liveness: LivenessEvidence | None = None
    first_good_frame_at: float = 0.0  # time.monotonic() when the first usable face frame arrived

    def as_json(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.liveness is not None:
            score = self.liveness.passive_score
            extra = {
                "passive_score": None if score is None else round(score, 3),
                "challenge": self.liveness.challenge,
                "challenge_passed": self.liveness.challenge_passed,
            }
        return (
            self.decision
            | {
                "frames_seen": self.frames_seen,
                "frames_fused": self.frames_fused,
                "seconds_to_decision": round(self.seconds_to_decision, 3),
                "seconds_from_first_frame": round(self.seconds_from_first_frame, 3),
            }
            | extra
        )


def backend_options(settings: KioskSettings) -> dict[str, Any]:
    """The options the chosen backend's factory takes from the settings."""
    if settings.backend == "onnx":
        return {"embedder": settings.onnx_embedder, "threads": settings.onnx_threads}
    return {}


@dataclass(frozen=True)
class KioskParts:
    """What every check-in needs loaded: the kiosk's identity, its face backend and threshold, the models.

    The guest's screen loads them once before showing the attract screen, so a
    kiosk missing any of them says so at once (and the guest does not wait for
    them after the booking QR); the headless command loads them per run.
    """

    identity: KioskIdentity
    backend: Embedder
    threshold: float
    landmarks: LandmarkModel
    passive: PassiveLiveness | None


def load_parts(settings: KioskSettings) -> KioskParts:
    """Load the identity and the models; raise :class:`~edge.errors.EdgeError` naming what is missing."""
    identity = load_identity(settings.key_file)
    backend = create_backend(settings.backend, **backend_options(settings))
    return KioskParts(
        identity=identity,
        backend=backend,
        threshold=load_manifest().threshold(backend.model_id),
        landmarks=LandmarkModel(settings.landmarks),
        passive=PassiveLiveness() if settings.passive_liveness else None,
    )


def run_checkin(
    settings: KioskSettings,
    *,
    source: str,
    id_image: Path | None,
    booking: str | None,
    booking_source: str | None = None,
    realtime: bool = False,
    on_guidance: Callable[[str], None] | None = None,
    screen: GuestScreenHooks | None = None,
    id_source: str | None = None,
    consent_accepted: bool = False,
    reverify: bool = False,
    parts: KioskParts | None = None,
) -> CheckinOutcome:
    """Check one guest in. Raises an :class:`~edge.errors.EdgeError` for anything but a decision.

    Without ``booking``, the booking QR code is read from ``booking_source``
    (default: ``source``, opened once for the QR and again for the face).
    Without ``id_image``, the ID portrait is read from the document the guest
    holds up to ``id_source`` (default: ``source``), before the live capture;
    with ``reverify`` there is none, and the service compares the live face
    with the stay's stored template (a guest already checked in, e.g. for a
    new key card); a stay not checked in is refused when the session opens
    (``stay-not-checked-in``), before consent or capture.
    ``on_guidance`` is told what to say to the guest while capturing;
    ``screen`` (the guest's screen) sees every frame, is told each step, asks
    the guest for consent once the session is open, and can stop the run.

    The guest's answer is recorded at the service before anything is captured:
    with ``screen``, the guest's choice on the notice (a refusal, a timeout or
    "front desk" at any later step ends the session as ``consent-refused``);
    without it, ``consent_accepted`` must say that the guest accepted the
    current notice some other way (``lethe kiosk --consent-accepted``), and
    that acceptance of the version the service sent is what is recorded.
    """
    if screen is None and not consent_accepted:
        raise ConsentRefused("no consent: the guest must accept the consent notice (--consent-accepted)")

    def opened(spec: str) -> FrameSource:
        inner = open_source(spec, realtime=realtime)
        return inner if screen is None else TappedSource(inner, screen.show_frame, screen.cancelled)

    started = time.monotonic()
    if booking is not None:
        try:
            code = parse_booking_code(booking)
        except InvalidBookingCode as exc:
            raise InvalidBookingCodeError(str(exc)) from None
    else:
        if on_guidance is not None:
            on_guidance("Please show the QR code from your booking confirmation.")
        if screen is not None:
            screen.step("scan")
        with opened(booking_source or source) as qr_frames:
            code = read_booking(qr_frames, max_seconds=settings.max_seconds)
        _check_cancelled(screen)
    parts = parts or load_parts(settings)
    identity, backend = parts.identity, parts.backend
    client = ServiceClient.from_settings(settings, identity)
    try:
        recipient = client.recipient_key(Suite.from_label(settings.suite))
        session = client.open_session(identity, code.reference, "reverify" if reverify else "check-in")
        evidence: dict[str, Any] = {"id_source": "stored" if reverify else "image" if id_image else "camera"}
        version = int(session.consent["version"]) if session.consent else None
        try:
            if screen is not None:
                version = screen.ask_consent(session.consent)
            if version is None:
                raise ConsentRefused("the service sent no consent notice")
            client.record_consent(identity, session.session_id, accepted=True, version=version)
            evidence["consent_version"] = version
            if screen is not None and not reverify:  # a returning guest skips the ID step
                screen.step("id", id_source=evidence["id_source"])
            if reverify:
                id_template = None
            elif id_image is not None:
                id_template = id_template_from_image(backend, id_image, jitters=settings.id_jitters)
            else:
                with opened(id_source or source) as document:
                    id_capture = id_template_from_source(
                        backend,
                        document,
                        jitters=settings.id_jitters,
                        min_sharpness=settings.min_sharpness,
                        max_seconds=settings.max_seconds,
                        on_guidance=on_guidance,
                    )
                id_template = id_capture.template
                evidence["id_frames"] = id_capture.frames_seen
                _check_cancelled(screen)
            capturer = LiveCapture(
                backend, settings, match_threshold=parts.threshold, landmarks=parts.landmarks, passive=parts.passive
            )
            if screen is not None:
                screen.step("face", challenge=session.challenge)
            with opened(source) as frames:
                first_frame = time.monotonic()
                capture = capturer.run(frames, challenge=session.challenge, on_guidance=on_guidance)
            _check_cancelled(screen)
            liveness = LivenessEvidence(
                passive_score=capture.passive.score if capture.passive else None,
                passive_model=MODEL_NAME if capture.passive else None,
                frames=capture.passive.frames if capture.passive else 0,
                challenge=session.challenge,
                challenge_passed=capture.challenge_passed,
                nonce=session.nonce,
            )
            # The service sees only rotated templates; the transform key never leaves this process.
            if id_template is None:
                (live,) = rotate(code.transform_key, capture.template)
                rotated_id = None
            else:
                live, rotated_id = rotate(code.transform_key, capture.template, id_template)
            payload = CheckinPayload(
                stay_secret=code.stay_secret,
                live=live,
                id_template=rotated_id,
                evidence=capture.evidence() | evidence,
                liveness=liveness,
                rotated=True,
            )
            envelope = seal(
                encode_payload(payload),
                recipient=recipient,
                device_key=identity.key,
                kiosk_id=identity.kiosk_id,
                session_id=session.session_id,
                nonce=session.nonce,
            )
            if screen is not None:
                screen.step("sending")
        except EdgeError as exc:
            if screen is not None and screen.cancelled() and not isinstance(exc, ConsentRefused):
                # The guest chose the front desk mid-capture; the capture's own error is only a symptom.
                raise_from: EdgeError = ConsentRefused("the guest chose the front desk")
            else:
                raise_from = exc
            if isinstance(raise_from, ConsentRefused) and version is not None:
                _record_refusal(client, identity, session.session_id, version)
            if raise_from is exc:
                raise
            raise raise_from from None
        decision = client.verify(envelope)
    finally:
        client.close()
    done = time.monotonic()
    return CheckinOutcome(
        decision,
        capture.frames_seen,
        capture.frames_fused,
        done - started,
        done - first_frame,
        liveness,
        first_frame + capture.first_good_s,
    )


def _record_refusal(client: ServiceClient, identity: KioskIdentity, session_id: uuid.UUID, version: int) -> None:
    """Best effort: the guest is sent to the desk whether or not the service hears of the refusal."""
    try:
        client.record_consent(identity, session_id, accepted=False, version=version)
    except EdgeError as exc:
        log.warning("the consent refusal was not recorded: %s", exc.code)
