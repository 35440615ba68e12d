"""The kiosk's HTTP client for the verification service.

Every request that is not a registration is signed with the device key; the
verify request carries only the sealed envelope. Problems from the service
become :class:`~edge.errors.ServiceProblem` with the service's stable code.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from edge.challenge import CHALLENGES
from edge.errors import ServiceProblem, ServiceUnreachable
from edge.identity import KioskIdentity
from edge.settings import KioskSettings
from protocol import RecipientPublicKey, SigningKey, Suite, sign_request
from protocol.booking import BookingCode, encode_secret
from protocol.encoding import b64_decode

ENVELOPE_MEDIA_TYPE = "application/vnd.lethe.envelope"


@dataclass(frozen=True)
class OpenedSession:
    session_id: uuid.UUID
    nonce: bytes = field(repr=False)
    challenge: str = "none"
    consent: dict[str, Any] | None = None


class ServiceClient:
    def __init__(self, base_url: str, *, timeout_s: float = 10.0, ca_file: Path | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout_s
        self._http = requests.Session()
        # The CA (the property's own) that signed the service's HTTPS certificate; given with each request,
        # since a Session's own verify loses to REQUESTS_CA_BUNDLE in the environment.
        self._verify: str | bool = str(ca_file) if ca_file is not None else True

    @classmethod
    def from_settings(cls, settings: KioskSettings, identity: KioskIdentity | None = None) -> ServiceClient:
        """A client with the settings' timeout and CA file, for ``LETHE_KIOSK_SERVICE_URL`` (or ``--service``)
        when set, else for the service ``identity`` was registered with."""
        url = settings.service_url
        if identity is not None and "service_url" not in settings.model_fields_set:
            url = identity.service_url
        return cls(url, timeout_s=settings.http_timeout_s, ca_file=settings.ca_file)

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
        try:
            response = self._http.request(
                method,
                self.base_url + path,
                data=body or None,
                headers=headers or {},
                timeout=self._timeout,
                verify=self._verify,
            )
        except requests.exceptions.SSLError:
            raise ServiceUnreachable(
                f"{self.base_url}: SSLError (the service's certificate is not trusted or does not name this host; "
                "a certificate from the property's own CA needs LETHE_KIOSK_CA_FILE)"
            ) from None
        except requests.RequestException as exc:
            raise ServiceUnreachable(f"{self.base_url}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise _problem(response)
        return response.json()

    def recipient_key(self, suite: Suite) -> RecipientPublicKey:
        """The service's newest HPKE public key for ``suite``."""
        for entry in self._request("GET", "/api/v1/keys")["hpke"]:
            if entry["suite"] == suite.label:
                try:
                    return RecipientPublicKey(suite, b64_decode(entry["public_key"], length=suite.public_length))
                except ValueError:
                    raise ServiceProblem("malformed-answer", 502, "the service's public key is malformed") from None
        raise ServiceProblem("unsupported-suite", 400, f"the service offers no {suite.label} key")

    def register(self, code: str, key: SigningKey) -> uuid.UUID:
        body = json.dumps({"code": code, "public_key": base64.b64encode(key.public_key().raw).decode()}).encode()
        answer = self._request("POST", "/api/v1/kiosks", body=body, headers={"Content-Type": "application/json"})
        return uuid.UUID(answer["kiosk_id"])

    def open_session(self, identity: KioskIdentity, booking_reference: str, purpose: str = "check-in") -> OpenedSession:
        """Open a session for a check-in, or (``purpose="reverify"``) a checked-in guest's re-verification."""
        path = "/api/v1/sessions"
        body = json.dumps({"booking_reference": booking_reference, "purpose": purpose}).encode()
        headers = sign_request(identity.key, identity.kiosk_id, "POST", path, body)
        headers["Content-Type"] = "application/json"
        answer = self._request("POST", path, body=body, headers=headers)
        challenge = answer.get("challenge", "none")
        if challenge not in CHALLENGES:
            raise ServiceProblem("unknown-challenge", 502, f"the service asked for an unknown challenge {challenge!r}")
        try:
            nonce = b64_decode(answer["nonce"], length=32)
        except ValueError:
            raise ServiceProblem("malformed-answer", 502, "the service's session nonce is malformed") from None
        return OpenedSession(uuid.UUID(answer["session_id"]), nonce, challenge, answer.get("consent"))

    def record_consent(
        self, identity: KioskIdentity, session_id: uuid.UUID, *, accepted: bool, version: int
    ) -> dict[str, Any]:
        """Tell the service the guest accepted (needed before verify) or refused notice ``version``."""
        path = f"/api/v1/sessions/{session_id}/consent"
        body = json.dumps({"decision": "accepted" if accepted else "refused", "version": version}).encode()
        headers = sign_request(identity.key, identity.kiosk_id, "POST", path, body)
        headers["Content-Type"] = "application/json"
        answer: dict[str, Any] = self._request("POST", path, body=body, headers=headers)
        return answer

    def _signed_post(self, identity: KioskIdentity, path: str, document: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(document).encode()
        headers = sign_request(identity.key, identity.kiosk_id, "POST", path, body)
        headers["Content-Type"] = "application/json"
        answer: dict[str, Any] = self._request("POST", path, body=body, headers=headers)
        return answer

    def report_status(self, identity: KioskIdentity, state: str, error: str | None = None) -> dict[str, Any]:
        """Tell the service this kiosk is ``ready`` or ``out-of-order`` (with the error code); return its answer.

        The answer carries what the guest's screen shows that the property
        decides: its name, accent colour and logo, and the receipt key and page.
        """
        return self._signed_post(identity, "/api/v1/kiosks/status", {"state": state, "error": error})

    def checkout(self, identity: KioskIdentity, code: BookingCode) -> dict[str, Any]:
        """Check the guest out with the booking code's reference and stay secret; return the signed deletion receipt.

        The master secret (and so the transform key) stays on the kiosk.
        """
        body = {"reference": code.reference, "stay_secret": encode_secret(code.stay_secret)}
        receipt: dict[str, Any] = self._signed_post(identity, "/api/v1/checkout", body)["receipt"]
        return receipt

    def verify(self, envelope: bytes) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "POST", "/api/v1/verify", body=envelope, headers={"Content-Type": ENVELOPE_MEDIA_TYPE}
        )
        return result


def _problem(response: requests.Response) -> ServiceProblem:
    try:
        body = response.json()
        return ServiceProblem(
            body.get("code", f"http-{response.status_code}"),
            response.status_code,
            body.get("title", response.reason),
            body.get("detail"),
            bool(body.get("retryable", False)),
        )
    except ValueError:
        return ServiceProblem(f"http-{response.status_code}", response.status_code, response.reason or "error")
