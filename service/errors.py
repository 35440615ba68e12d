"""Domain errors of the service, each with a stable ``code`` slug and an HTTP status.

The API turns them into RFC 9457 ``application/problem+json`` bodies (see
``service/web/problems.py``); every code is listed in ``docs/api.md``. Messages never
contain biometric data, secrets or stack traces.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LetheError(Exception):
    """Root of every service error. Subclasses set ``code``, ``status`` and ``title``."""

    code: ClassVar[str] = "internal-error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    retryable: ClassVar[bool] = False

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class OperatorError(LetheError):
    """A problem for the operator to fix (the key folder, a stored secret, a refused key retirement).

    ``str(err)`` names it for the log and the command line; a client that meets
    one in a request gets a bare ``internal-error``, the message only in the log.
    """

    def __init__(self, message: str) -> None:
        super().__init__()
        self.args = (message,)


def _error(code: str, status: int, title: str, *, retryable: bool = False) -> type[LetheError]:
    name = "".join(part.capitalize() for part in code.split("-"))
    return type(name, (LetheError,), {"code": code, "status": status, "title": title, "retryable": retryable})


BadRequest = _error("bad-request", 400, "The request is malformed")
InvalidEnvelopeError = _error("invalid-envelope", 400, "The envelope is invalid")
UnknownModel = _error("unknown-model", 400, "The template's model is not one this service matches")
ModelMismatch = _error("model-mismatch", 400, "The live and ID templates come from different models")
MissingIdTemplate = _error("missing-id-template", 409, "There is no ID template to compare with")
Unauthenticated = _error("unauthenticated", 401, "Authentication is required")
UnknownKiosk = _error("unknown-kiosk", 401, "The kiosk is not registered")
InvalidRequestSignature = _error("invalid-request-signature", 401, "The request signature does not verify")
StaleRequest = _error("stale-request", 401, "The request timestamp is outside the accepted window")
InvalidEnrolmentCode = _error("invalid-enrolment-code", 403, "The enrolment code is unknown, used or expired")
BookingSecretMismatch = _error("booking-secret-mismatch", 403, "The booking code does not match this reservation")
UnknownBooking = _error("unknown-booking", 404, "No reservation has this booking reference")
NotFound = _error("not-found", 404, "Not found")
UnknownSession = _error("unknown-session", 404, "The check-in session does not exist")
ReplayedRequest = _error("replayed-request", 409, "This request was already received")
ReplayedEnvelope = _error("replayed-envelope", 409, "This session was already used")
SessionExpired = _error("session-expired", 410, "The check-in session has expired; open a new one", retryable=True)
StayNotActive = _error("stay-not-active", 409, "The stay is checked out, cancelled or deleted")
StayNotCheckedIn = _error(
    "stay-not-checked-in", 409, "The stay is not checked in yet: check in with the ID document first"
)
AlreadyExists = _error("already-exists", 409, "It already exists")
PayloadTooLarge = _error("payload-too-large", 413, "The request body is too large")
UnsupportedMediaType = _error("unsupported-media-type", 415, "The request body has the wrong content type")
DatabaseUnavailable = _error("database-unavailable", 503, "The database is unavailable; retry shortly", retryable=True)
KioskSuspended = _error("kiosk-suspended", 403, "The kiosk is suspended; staff can resume it")
KioskRevoked = _error("kiosk-revoked", 403, "The kiosk is revoked; register it again with a new enrolment code")
ReasonRequired = _error("reason-required", 400, "A written reason is required for this action")
InvalidTransition = _error("invalid-transition", 409, "The record is not in a state that allows this action")
ConsentRequired = _error(
    "consent-required", 409, "The guest's acceptance of the consent notice is not recorded for this session"
)
ConsentRefused = _error("consent-refused", 409, "The guest refused the consent notice; this session is closed")
ConsentAlreadyRecorded = _error("consent-already-recorded", 409, "The guest's consent answer is already recorded")
ConsentVersionMismatch = _error(
    "consent-version-mismatch", 409, "The consent notice changed since it was shown; open a new session"
)
StayLocked = _error("stay-locked", 423, "Face check-in is locked for this stay after repeated failures")
RateLimited = _error("rate-limited", 429, "Too many requests; slow down", retryable=True)
DeletionPending = _error(
    "deletion-pending",
    503,
    "The data is deleted but an older database reader still holds a copy; the receipt waits until it is gone",
    retryable=True,
)
ServiceNotReady = _error("service-not-ready", 503, "The service is not ready; retry shortly", retryable=True)
