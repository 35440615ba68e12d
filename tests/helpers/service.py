"""Acting on the service in process: as the PMS, as a kiosk, as staff signing in to the panel.

In the style of flaskr's ``AuthActions``: the fixtures in ``tests/conftest.py``
hand these to the tests (``actions``, ``staff``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyotp
from flask.testing import FlaskClient

from protocol import (
    BookingCode,
    CheckinPayload,
    LivenessEvidence,
    RecipientPublicKey,
    SigningKey,
    Suite,
    Template,
    encode_payload,
    parse_booking_code,
    seal_at_time,
    sign_request,
)
from service.checkin.kiosks import create_enrolment_code
from service.panel.accounts import create_account
from service.stays.integrations import create_integration
from service.web.context import Service

PROBLEM = "application/problem+json"
MODEL = "dlib-resnet-v1"
ENVELOPE = "application/vnd.lethe.envelope"


def random_template(seed: int, dim: int = 128, model: str = MODEL) -> Template:
    return Template.from_embedding(model, np.random.default_rng(seed).normal(size=dim))


def near(template: Template, noise: float, seed: int = 99) -> Template:
    """A template close to ``template`` (cosine about 1 - noise²·dim/2)."""
    jitter = np.random.default_rng(seed).normal(scale=noise, size=template.dimension)
    return Template.from_embedding(template.model_id, template.vector + jitter)


@dataclass
class Kiosk:
    kiosk_id: uuid.UUID
    key: SigningKey


@dataclass
class Opened:
    session_id: uuid.UUID
    nonce: bytes
    challenge: str = "none"

    def passing_liveness(self) -> LivenessEvidence:
        """Evidence a live guest who did the session's challenge would send."""
        return LivenessEvidence(0.95, "minifasnet-v2+v1se", 5, self.challenge, True, self.nonce)


PASSING = object()


class Actions:
    """Domain helpers in the style of flaskr's ``AuthActions``: act as the PMS, as an operator, as a kiosk."""

    def __init__(self, client: FlaskClient, svc: Service) -> None:
        self.client = client
        self.svc = svc
        with svc.db.transaction() as session:
            self.api_key = create_integration(session, name=f"pms-{uuid.uuid4().hex[:6]}", actor="test")

    @property
    def pms(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def reservation(self, guest: str = "Ada Guest") -> BookingCode:
        today = dt.date.today()
        answer = self.client.post(
            "/pms/v1/reservations",
            json={
                "guest_name": guest,
                "arrival": today.isoformat(),
                "departure": (today + dt.timedelta(days=1)).isoformat(),
            },
            headers=self.pms,
        )
        assert answer.status_code == 201, answer.json
        return parse_booking_code(answer.json["booking_code"])

    def enrolment_code(self) -> str:
        with self.svc.db.transaction() as session:
            return create_enrolment_code(
                session, kiosk_name="Test kiosk", ttl_s=600, actor="test", now=dt.datetime.now(dt.UTC)
            ).code

    def kiosk(self) -> Kiosk:
        key = SigningKey.generate()
        answer = self.client.post(
            "/api/v1/kiosks",
            json={"code": self.enrolment_code(), "public_key": base64.b64encode(key.public_key().raw).decode()},
        )
        assert answer.status_code == 201, answer.json
        return Kiosk(uuid.UUID(answer.json["kiosk_id"]), key)

    def open_session(self, kiosk: Kiosk, reference: str, purpose: str | None = None) -> Any:
        fields = {"booking_reference": reference} | ({"purpose": purpose} if purpose else {})
        body = json.dumps(fields).encode()
        headers = sign_request(kiosk.key, kiosk.kiosk_id, "POST", "/api/v1/sessions", body)
        return self.client.post("/api/v1/sessions", data=body, headers=headers, content_type="application/json")

    def session(self, kiosk: Kiosk, reference: str, *, consent: bool = True, purpose: str | None = None) -> Opened:
        """Open a session; with ``consent`` (the default) the guest accepts the notice it carries."""
        answer = self.open_session(kiosk, reference, purpose)
        assert answer.status_code == 201, answer.json
        opened = Opened(
            uuid.UUID(answer.json["session_id"]), base64.b64decode(answer.json["nonce"]), answer.json["challenge"]
        )
        if consent:
            recorded = self.consent(kiosk, opened.session_id, "accepted", answer.json["consent"]["version"])
            assert recorded.status_code == 200, recorded.json
        return opened

    def consent(self, kiosk: Kiosk, session_id: uuid.UUID | str, decision: str, version: int) -> Any:
        """Report the guest's answer to the consent notice, as a signed kiosk request."""
        path = f"/api/v1/sessions/{session_id}/consent"
        body = json.dumps({"decision": decision, "version": version}).encode()
        headers = sign_request(kiosk.key, kiosk.kiosk_id, "POST", path, body)
        return self.client.post(path, data=body, headers=headers, content_type="application/json")

    def recipient(self, suite: Suite = Suite.MLKEM768_X25519) -> RecipientPublicKey:
        return self.svc.keyring.recipient_for(suite).public_key()

    def envelope(
        self,
        kiosk: Kiosk,
        opened: Opened,
        code: BookingCode,
        live: Template,
        id_template: Template | None,
        *,
        suite: Suite = Suite.MLKEM768_X25519,
        now: float | None = None,
        secret: bytes | None = None,
        liveness: LivenessEvidence | object | None = PASSING,
    ) -> bytes:
        """Seal a payload; ``liveness`` defaults to evidence that passes the session's challenge."""
        evidence = opened.passing_liveness() if liveness is PASSING else liveness
        assert evidence is None or isinstance(evidence, LivenessEvidence)
        payload = CheckinPayload(
            stay_secret=secret or code.stay_secret,
            live=live,
            id_template=id_template,
            evidence={"frames_fused": 5},
            liveness=evidence,
        )
        return seal_at_time(
            encode_payload(payload),
            recipient=self.recipient(suite),
            device_key=kiosk.key,
            kiosk_id=kiosk.kiosk_id,
            session_id=opened.session_id,
            nonce=opened.nonce,
            now=now if now is not None else dt.datetime.now(dt.UTC).timestamp(),
        )

    def verify(self, body: bytes) -> Any:
        return self.client.post("/api/v1/verify", data=body, content_type=ENVELOPE)

    def checkin(self, live: Template, id_template: Template | None) -> tuple[BookingCode, Any]:
        code = self.reservation()
        kiosk = self.kiosk()
        opened = self.session(kiosk, code.reference)
        return code, self.verify(self.envelope(kiosk, opened, code, live, id_template))


def assert_problem(response: Any, status: int, code: str) -> None:
    """``response`` is the RFC 9457 problem ``code`` with HTTP ``status``, and no stack trace."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    assert response.json["code"] == code
    assert response.json["status"] == status
    assert "Traceback" not in response.get_data(as_text=True)


PASSWORD = "correct horse battery"


@dataclass
class Account:
    username: str
    role: str
    secret: str | None

    def code(self) -> str:
        return pyotp.TOTP(self.secret).now() if self.secret else ""


class Staff:
    """Create staff accounts and sign in as them, through the real login form."""

    def __init__(self, client: FlaskClient, svc: Service) -> None:
        self.client = client
        self.svc = svc

    def create(self, role: str, username: str | None = None, *, totp: bool | None = None) -> Account:
        username = username or role.replace("_", "-")
        with self.svc.db.transaction() as session:
            created = create_account(
                session,
                username=username,
                display_name=username.title(),
                role=role,
                password=PASSWORD,
                actor="test",
                keyring=self.svc.keyring,
                with_totp=totp,
            )
        return Account(username, role, created.totp_secret)

    def login_page_token(self) -> str:
        page = self.client.get("/panel/login").get_data(as_text=True)
        return csrf_token(page)

    def login(self, account: Account, *, password: str = PASSWORD, code: str | None = None) -> object:
        token = self.login_page_token()
        return self.client.post(
            "/panel/login",
            data={
                "csrf_token": token,
                "username": account.username,
                "password": password,
                "code": account.code() if code is None else code,
            },
        )

    def sign_in_as(self, role: str) -> Account:
        account = self.create(role)
        answer = self.login(account)
        assert answer.status_code == 302, answer.get_data(as_text=True)  # type: ignore[attr-defined]
        return account


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)
