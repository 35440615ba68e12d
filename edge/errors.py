"""Errors of the kiosk side, each with a stable ``code`` and a process exit status."""

from __future__ import annotations

from typing import ClassVar


class EdgeError(Exception):
    """Root of every kiosk error. ``guidance`` is what the guest or operator should do."""

    code: ClassVar[str] = "kiosk-error"
    exit_status: ClassVar[int] = 3
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
    exit_status = 1
    guidance = "Please see the front desk to check in."


class SourceError(EdgeError):
    code = "source-unavailable"
    guidance = "Check that the camera is connected, or that the video file exists and is readable."


class NoFaceInIdImage(EdgeError):
    code = "no-face-in-id-image"
    guidance = "Hold the ID document's photo page flat and closer to the camera."


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

    exit_status = 4

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
    exit_status = 4
    retryable = True
    guidance = "The check-in service cannot be reached; try again in a moment or see the front desk."
