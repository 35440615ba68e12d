"""Signed events for the hotel's systems (PMS, lock-system bridge): endpoints, the outbox, and delivery.

An admin registers an endpoint URL (``lethe integration webhook add URL``); the
service makes it a Standard Webhooks secret (``whsec_…``, shown once, kept
sealed under the keyring's staff-secret key). Every change that an event
reports writes the event into the outbox table (:func:`emit`, one row per
active endpoint) **in the same transaction as the change**, so an event is
never lost when the process dies and never sent for a change that rolled back.

Delivery (:func:`deliver_due`) runs in each service worker on a schedule
(``LETHE_WEBHOOK_INTERVAL_S``): it claims due messages (a conditional update on
the attempt counter, so two workers never send the same attempt), posts each
one signed with the ``standardwebhooks`` package (headers ``webhook-id``,
``webhook-timestamp``, ``webhook-signature``), and records the answer: a 2xx
delivers it, anything else is retried after a delay that doubles from
``LETHE_WEBHOOK_RETRY_BASE_S`` up to an hour, until ``LETHE_WEBHOOK_MAX_ATTEMPTS``.
A message claimed by a process that then died is retried once its claim (one
minute) has passed: delivery is at least once, and the ``webhook-id`` is the same
on every try, so a receiver that saw it already ignores it.

Payloads name the booking reference and the kiosk, never a template, a score,
a guest's name or a secret (docs/api.md lists them).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from service.errors import BadRequest, NotFound
from service.keyring import Keyring, staff_secrets
from service.storage import audit
from service.storage.db import Database
from service.storage.tables import Kiosk, WebhookEndpoint, WebhookMessage

log = logging.getLogger(__name__)
EVENTS = ("stay.checked_in", "stay.reverified", "stay.checked_out", "stay.erased", "kiosk.suspended")
CLAIM_S = 60  # a claimed message whose sender died is tried again after this
MAX_DELAY_S = 3600
TIMEOUT_S = 10.0


def _binding(endpoint_id: int) -> str:
    return f"webhook:{endpoint_id}"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class NewEndpoint:
    id: int
    url: str
    secret: str  # shown once


def add_endpoint(session: Session, keyring: Keyring, url: str, *, actor: str) -> NewEndpoint:
    """Register ``url`` (http or https) for every event; return it with its secret (shown once)."""
    url = url.strip()
    if not url.startswith(("https://", "http://")) or len(url) > 500 or any(c.isspace() for c in url):
        raise BadRequest("the webhook URL must be an http(s) URL of at most 500 characters")
    endpoint = WebhookEndpoint(url=url, secret="")
    session.add(endpoint)
    session.flush()
    secret = new_secret()
    endpoint.secret = staff_secrets.seal(keyring, _binding(endpoint.id), secret)
    audit.append(
        session, audit.Entry(actor=actor, action="webhook.add", subject=str(endpoint.id), details={"url": url})
    )
    return NewEndpoint(endpoint.id, url, secret)


def remove_endpoint(session: Session, endpoint_id: int, *, actor: str, now: dt.datetime) -> None:
    """Stop sending to an endpoint; its undelivered messages are dropped."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.removed_at is not None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    endpoint.removed_at = now
    session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.endpoint_id == endpoint_id, WebhookMessage.delivered_at.is_(None))
        .values(failed_at=now, last_status="endpoint-removed")
    )
    audit.append(session, audit.Entry(actor=actor, action="webhook.remove", subject=str(endpoint_id)))


@dataclass(frozen=True)
class EndpointInfo:
    id: int
    url: str
    created_at: dt.datetime
    last_status: str | None
    last_attempt_at: dt.datetime | None
    pending: int
    failed: int
    delivered: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "created_at": self.created_at.isoformat(),
            "last_status": self.last_status,
            "last_attempt_at": self.last_attempt_at.isoformat() if self.last_attempt_at else None,
            "pending": self.pending,
            "failed": self.failed,
            "delivered": self.delivered,
        }


def list_endpoints(session: Session) -> list[EndpointInfo]:
    """Active endpoints with their last status and message counts."""
    endpoints = session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.removed_at.is_(None)).order_by(WebhookEndpoint.id)
    ).all()
    found = []
    for e in endpoints:
        rows = session.execute(
            select(WebhookMessage.delivered_at, WebhookMessage.failed_at).where(WebhookMessage.endpoint_id == e.id)
        ).all()
        delivered = sum(1 for r in rows if r.delivered_at is not None)
        failed = sum(1 for r in rows if r.failed_at is not None)
        found.append(
            EndpointInfo(
                e.id,
                e.url,
                e.created_at,
                e.last_status,
                e.last_attempt_at,
                len(rows) - delivered - failed,
                failed,
                delivered,
            )
        )
    return found


def emit(session: Session, event_type: str, data: Mapping[str, Any], *, now: dt.datetime) -> int:
    """Record ``event_type`` for every active endpoint in ``session``'s transaction; return how many messages."""
    if event_type not in EVENTS:
        raise ValueError(f"unknown event {event_type}")
    endpoints = session.scalars(select(WebhookEndpoint.id).where(WebhookEndpoint.removed_at.is_(None))).all()
    if not endpoints:
        return 0
    body = json.dumps(
        {"type": event_type, "timestamp": now.isoformat(), "data": dict(data)}, sort_keys=True, separators=(",", ":")
    )
    for endpoint_id in endpoints:
        session.add(
            WebhookMessage(
                id=f"msg_{uuid.uuid4().hex}",
                endpoint_id=endpoint_id,
                event_type=event_type,
                payload=body,
                created_at=now,
                attempts=0,
                next_attempt_at=now,
            )
        )
    session.flush()  # the rows now, before the caller's audit entry (the chain's lock is taken last)
    return len(endpoints)


def kiosk_ref(kiosk_id: str | None, name: str | None) -> dict[str, str] | None:
    """How an event names a kiosk (``None``: the change was made by staff, not at a kiosk)."""
    return None if not kiosk_id else {"id": kiosk_id, "name": name or ""}


def kiosk_by_id(session: Session, kiosk_id: str) -> dict[str, str] | None:
    kiosk = session.get(Kiosk, kiosk_id)
    return kiosk_ref(kiosk_id, kiosk.name if kiosk else None)


def retry_delay_s(attempts: int, base_s: float) -> float:
    """The wait after the ``attempts``-th failed try: ``base_s`` doubling, at most an hour."""
    return float(min(MAX_DELAY_S, base_s * 2 ** min(attempts - 1, 32)))


@dataclass(frozen=True)
class Claimed:
    id: str
    endpoint_id: int
    url: str
    secret: str
    payload: str
    attempts: int


def _due(now: dt.datetime, limit: int) -> Any:
    return (
        select(WebhookMessage, WebhookEndpoint.url, WebhookEndpoint.secret)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
        .where(
            WebhookMessage.delivered_at.is_(None),
            WebhookMessage.failed_at.is_(None),
            WebhookMessage.next_attempt_at <= now,
            WebhookEndpoint.removed_at.is_(None),
        )
        .order_by(WebhookMessage.created_at, WebhookMessage.id)
        .limit(limit)
    )


def _claim(db: Database, keyring: Keyring, now: dt.datetime, limit: int) -> list[Claimed]:
    # First a read that takes no write lock (SQLite: deferred; most runs find nothing due), then the claim.
    with db.session() as session, db.read(session):
        if not session.execute(_due(now, 1)).first():
            return []
    with db.transaction() as session:
        due = session.execute(_due(now, limit)).all()
        claimed = []
        for message, url, sealed in due:
            taken = session.execute(
                update(WebhookMessage)
                .where(WebhookMessage.id == message.id, WebhookMessage.attempts == message.attempts)
                .values(attempts=message.attempts + 1, next_attempt_at=now + dt.timedelta(seconds=CLAIM_S))
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                secret = staff_secrets.open_secret(keyring, _binding(message.endpoint_id), sealed)
                claimed.append(
                    Claimed(message.id, message.endpoint_id, url, secret, message.payload, message.attempts + 1)
                )
        return claimed


def _send(message: Claimed, http: requests.Session) -> str:
    """Post one message, signed; return its status: the HTTP code, or the kind of network failure."""
    body = message.payload.encode()
    sent_at = dt.datetime.now(dt.UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": message.id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(message.secret).sign(message.id, sent_at, body),
        "user-agent": "Lethe-Webhooks/1",
    }
    try:
        answer = http.post(message.url, data=body, headers=headers, timeout=TIMEOUT_S, allow_redirects=False)
    except requests.Timeout:
        return "timeout"
    except requests.RequestException as exc:
        return f"error:{type(exc).__name__}"[:64]
    return str(answer.status_code)


def deliver_due(
    db: Database,
    keyring: Keyring,
    *,
    now: dt.datetime | None = None,
    retry_base_s: float = 10.0,
    max_attempts: int = 12,
    limit: int = 50,
) -> int:
    """Send every due message once; return how many were delivered (2xx)."""
    now = now or dt.datetime.now(dt.UTC)
    delivered = 0
    with requests.Session() as http:
        for message in _claim(db, keyring, now, limit):
            status = _send(message, http)
            ok = status.isdigit() and 200 <= int(status) < 300
            delivered += ok
            with db.transaction() as session:
                values: dict[str, Any] = {"last_status": status}
                if ok:
                    values["delivered_at"] = now
                elif message.attempts >= max_attempts:
                    values["failed_at"] = now
                else:
                    delay = retry_delay_s(message.attempts, retry_base_s)
                    values["next_attempt_at"] = now + dt.timedelta(seconds=delay)
                session.execute(
                    update(WebhookMessage)
                    .where(WebhookMessage.id == message.id)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                session.execute(
                    update(WebhookEndpoint)
                    .where(WebhookEndpoint.id == message.endpoint_id)
                    .values(last_status=status, last_attempt_at=now)
                    .execution_options(synchronize_session=False)
                )
            if not ok:
                log.info(
                    "webhook %s to endpoint %s: %s (try %d)", message.id, message.endpoint_id, status, message.attempts
                )
    return delivered
