"""Errors raised by :mod:`protocol`.

Every failure to accept bytes from the other side is a :class:`ProtocolError`.
Envelope failures are deliberately opaque: :class:`InvalidEnvelope` says the same
thing for every cause, and keeps the precise cause in :attr:`InvalidEnvelope.reason`
for the operator's log, never for the sender.
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """Root of every error raised by the protocol package."""


class InvalidTemplate(ProtocolError):
    """A template's bytes or values do not follow the template encoding."""


class InvalidEnvelope(ProtocolError):
    """An envelope was malformed, tampered with, or could not be opened.

    ``str(err)`` is always ``"invalid envelope"``; :attr:`reason` names the cause
    for logs on the receiving side.
    """

    def __init__(self, reason: str = "unspecified") -> None:
        super().__init__("invalid envelope")
        self.reason = reason


class InvalidSignature(ProtocolError):
    """A detached signature (request, receipt) did not verify."""


class InvalidBookingCode(ProtocolError):
    """A booking QR payload does not follow the booking-code format."""
