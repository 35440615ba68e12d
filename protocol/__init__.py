"""The wire contract between kiosk and service: templates, envelopes, receipts, audit checkpoints.

This package is the only place that touches ``cryptography.hazmat``. Its public
functions are listed in ``__all__``; the format is specified in ``docs/protocol.md``.
"""

from protocol.booking import BookingCode, new_master_secret, parse_booking_code, secret_fingerprint
from protocol.checkpoint import ChainHead, Checkpoint, sign_checkpoint, verify_checkpoint
from protocol.envelope import Envelope, Header, open_envelope, parse_envelope, seal, seal_at_time
from protocol.errors import InvalidBookingCode, InvalidEnvelope, InvalidSignature, InvalidTemplate, ProtocolError
from protocol.keys import DEFAULT_SUITE, RecipientPrivateKey, RecipientPublicKey, SigningKey, Suite, VerifyKey
from protocol.payload import CheckinPayload, LivenessEvidence, canonical_json, decode_payload, encode_payload
from protocol.receipt import DeletionClaims, receipt_fragment, receipt_from_fragment, sign_receipt, verify_receipt
from protocol.request import parse_request_headers, sign_request, verify_request
from protocol.template import Template, decode_template, encode_template
from protocol.transform import Rotation, rotate

__all__ = [
    "DEFAULT_SUITE",
    "BookingCode",
    "ChainHead",
    "CheckinPayload",
    "Checkpoint",
    "DeletionClaims",
    "Envelope",
    "Header",
    "InvalidBookingCode",
    "InvalidEnvelope",
    "InvalidSignature",
    "InvalidTemplate",
    "LivenessEvidence",
    "ProtocolError",
    "RecipientPrivateKey",
    "RecipientPublicKey",
    "Rotation",
    "SigningKey",
    "Suite",
    "Template",
    "VerifyKey",
    "canonical_json",
    "decode_payload",
    "decode_template",
    "encode_payload",
    "encode_template",
    "new_master_secret",
    "open_envelope",
    "parse_booking_code",
    "parse_envelope",
    "parse_request_headers",
    "receipt_fragment",
    "receipt_from_fragment",
    "rotate",
    "seal",
    "seal_at_time",
    "secret_fingerprint",
    "sign_checkpoint",
    "sign_receipt",
    "sign_request",
    "verify_checkpoint",
    "verify_receipt",
    "verify_request",
]
