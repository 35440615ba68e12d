"""The in-process schedules: the retention purge (with an audit checkpoint) and the webhook delivery.

Retention (``LETHE_PURGE_INTERVAL_S``; 0 leaves it to cron or a systemd timer):
each worker runs :func:`service.retention.purge_all` every interval, with up to
10 % random jitter so workers and hosts spread out. That is safe because the
purge is idempotent and, on PostgreSQL, takes its rows with ``SKIP LOCKED``.
Then it signs an audit checkpoint if the chain moved since the last one
(``service/storage/checkpoints.py``).

Webhooks (``LETHE_WEBHOOK_INTERVAL_S``, default 5 s; 0: off): each worker sends
the outbox's due events (:func:`service.webhooks.deliver_due`, which claims each
message so two workers never send the same try), from the moment it starts, so
events recorded before a crash go out once the service is back.
"""

from __future__ import annotations

import logging
import random
import threading

from flask import Flask

from service.stays.retention import purge_all
from service.storage import checkpoints
from service.web.context import EXTENSION, Service
from service.webhooks import deliver_due

log = logging.getLogger(__name__)
THREAD_NAME = "lethe-purge"
WEBHOOK_THREAD_NAME = "lethe-webhooks"


def run_once(app: Flask) -> None:
    svc: Service = app.extensions[EXTENSION]
    try:
        report = purge_all(svc.db, actor="retention:schedule")
    except Exception as exc:  # keep the schedule alive; the next run retries
        log.warning("scheduled purge failed", extra={"error": type(exc).__name__})
        return
    if report.stays or report.sessions:
        log.info("scheduled purge", extra=report.as_json())
    try:
        with svc.db.transaction() as session:
            checkpoints.record_if_moved(session, svc.keyring.receipt_key)
    except Exception as exc:  # as the purge: the next run retries
        log.warning("scheduled audit checkpoint failed", extra={"error": type(exc).__name__})


def deliver_once(app: Flask) -> None:
    svc: Service = app.extensions[EXTENSION]
    try:
        deliver_due(
            svc.db,
            svc.keyring,
            retry_base_s=svc.settings.webhook_retry_base_s,
            max_attempts=svc.settings.webhook_max_attempts,
        )
    except Exception as exc:  # keep the schedule alive; the next run retries
        log.warning("webhook delivery failed", extra={"error": type(exc).__name__})


def start_webhooks(app: Flask, interval_s: float, stop: threading.Event | None = None) -> threading.Thread | None:
    """Start the webhook delivery loop as a daemon thread (``None`` when ``interval_s`` is 0); it sends at once."""
    if interval_s <= 0:
        return None
    stop = stop or threading.Event()

    def loop() -> None:
        deliver_once(app)
        while not stop.wait(interval_s):
            deliver_once(app)

    thread = threading.Thread(target=loop, name=WEBHOOK_THREAD_NAME, daemon=True)
    thread.start()
    return thread


def start(app: Flask, interval_s: int, stop: threading.Event | None = None) -> threading.Thread | None:
    """Start the schedule as a daemon thread; returns it (``None`` when ``interval_s`` is 0)."""
    if interval_s <= 0:
        return None
    stop = stop or threading.Event()

    def loop() -> None:
        while not stop.wait(interval_s * (1 + random.uniform(0, 0.1))):  # noqa: S311 (jitter, not secrecy)
            run_once(app)

    thread = threading.Thread(target=loop, name=THREAD_NAME, daemon=True)
    thread.start()
    return thread
