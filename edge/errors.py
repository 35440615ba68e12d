"""Errors of the kiosk side, each with a stable ``code`` and a process exit status."""

from __future__ import annotations

import logging
import traceback
from enum import IntEnum
from pathlib import Path
from typing import ClassVar


class ExitStatus(IntEnum):
    """How ``lethe kiosk`` and ``lethe kiosk screen`` end: one table for both (docs/api.md)."""

    ACCEPTED = 0
    """The service accepted the guest (or, on the screen, checked the guest out)."""
    REJECTED = 1
    """The service compared and said no (``no-match``, ``liveness-failed``)."""
    USAGE = 2
    """Bad options (click's own status)."""
    KIOSK_ERROR = 3
    """Something on the kiosk's side: camera, models, key file, booking QR, the guest's face or ID."""
    SERVICE_PROBLEM = 4
    """The service answered with a problem code, or could not be reached (``service-unreachable``)."""
    FRONT_DESK = 5
    """The guest chose the front desk, or did not answer the consent notice in time."""


EXIT_STATUS_HELP = (
    "Exit status: 0 accepted (the screen: also checked out), 1 rejected, 2 usage, 3 kiosk-side error "
    "(camera, models, key file, booking QR, face or ID), 4 service problem (its code, or service-unreachable), "
    "5 the guest chose the front desk."
)


class EdgeError(Exception):
    """Root of every kiosk error. ``guidance`` is what the guest or operator should do."""

    code: ClassVar[str] = "kiosk-error"
    exit_status: ClassVar[ExitStatus] = ExitStatus.KIOSK_ERROR
    retryable: bool = False
    guidance: ClassVar[str] = ""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ConfigurationError(EdgeError):
    code = "configuration-error"


class InvalidBookingCodeError(EdgeError):
    code = "invalid-booking-code"
    guidance = "Scan the QR code from your booking confirmation, or see the front desk."


class NoBookingQr(EdgeError):
    code = "no-booking-qr"
    guidance = "Hold the QR code from your booking confirmation up to the camera, or see the front desk."


class ConsentRefused(EdgeError):
    code = "consent-refused"
    exit_status = ExitStatus.FRONT_DESK
    guidance = "Please see the front desk to check in."


class SourceError(EdgeError):
    code = "source-unavailable"
    guidance = "Check that the camera is connected, or that the video file exists and is readable."


class NoFaceInIdImage(EdgeError):
    code = "no-face-in-id-image"
    guidance = "Hold the ID document's photo page flat and closer to the camera."


class NoFaceInIdPhoto(NoFaceInIdImage):
    """No face in the ID image file given with --id-image (not the camera: no one can hold anything closer)."""

    guidance = (
        "Give a photo or scan of the ID document's portrait page, upright and in focus, "
        "cropped so the portrait is clearly visible."
    )


class IdImageUnreadable(EdgeError):
    code = "id-image-unreadable"
    guidance = "Check --id-image: it must name an existing JPEG or PNG file of the ID document's portrait page."


class MultipleFacesInIdImage(EdgeError):
    code = "multiple-faces-in-id-image"
    guidance = "Show only the ID document, with one portrait, to the camera."


class NoIdDocument(EdgeError):
    """A face was shown at the ID stage, but not inside a document (e.g. the guest's own face)."""

    code = "no-id-document"
    guidance = "Hold your ID document up to the camera, the whole document in view, not your face."


class NoUsableFace(EdgeError):
    code = "no-usable-face"
    guidance = "Look at the camera, alone, in good light, and come closer."


class KioskNotRegistered(EdgeError):
    code = "kiosk-not-registered"
    guidance = "Register this kiosk first: lethe kiosk register --service URL --code CODE"


class ServiceProblem(EdgeError):
    """The service answered with an RFC 9457 problem."""

    exit_status = ExitStatus.SERVICE_PROBLEM

    def __init__(self, code: str, status: int, title: str, detail: str | None = None, retryable: bool = False) -> None:
        super().__init__(detail or title)
        self.problem_code = code
        self.status = status
        self.title = title
        self.retryable = retryable

    @property
    def code(self) -> str:  # type: ignore[override]
        return self.problem_code


class ServiceUnreachable(EdgeError):
    code = "service-unreachable"
    exit_status = ExitStatus.SERVICE_PROBLEM
    retryable = True
    guidance = "The check-in service cannot be reached; try again in a moment or see the front desk."


def log_failure(log: logging.Logger, what: str, exc: BaseException) -> None:
    """Log why ``what`` failed: the error's code and detail, or an unexpected error's type and place (no values)."""
    if isinstance(exc, EdgeError):
        log.error("%s: %s: %s", what, exc.code, exc.detail)
        return
    place = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {Path(place.filename).name}:{place.lineno}" if place else ""
    log.error("%s: unexpected %s%s", what, type(exc).__name__, where)
