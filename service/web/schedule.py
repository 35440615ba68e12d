"""The in-process schedule (``LETHE_PURGE_INTERVAL_S``; 0 leaves it to cron or a systemd timer).

Each worker runs :func:`service.retention.purge_all` every interval, with up to
10 % random jitter so workers and hosts spread out. That is safe because the
purge is idempotent and, on PostgreSQL, takes its rows with ``SKIP LOCKED``.
Then it signs an audit checkpoint if the chain moved since the last one
(``service/storage/checkpoints.py``).
"""

from __future__ import annotations

import logging
import random
import threading

from flask import Flask

from service.stays.retention import purge_all
from service.storage import checkpoints
from service.web.context import EXTENSION, Service

log = logging.getLogger(__name__)
THREAD_NAME = "lethe-purge"


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
