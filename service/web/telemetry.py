"""What the service tells its operators: structured logs, the request metric, and ``GET /metrics``.

The ``service`` loggers write through structlog's formatter (one JSON object a
line, never personal or biometric data): a timestamp, the level, the logger,
the event and its fields. Each request adds one ``request`` line and one sample
of the request-latency metric, both labelled with the endpoint name (never the
path: it can hold a booking reference), method and status; the line also
carries the duration and a request id (sent back as ``X-Request-Id``).
"""

from __future__ import annotations

import logging
import secrets
import sys
import time
import uuid
from typing import TextIO

import structlog
from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service import metrics
from service.errors import Unauthenticated
from service.settings import Settings
from service.web.context import service

LOGGER = "service"
_HANDLER_MARK = "_lethe_structlog"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (as logging's last-resort handler does)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure(settings: Settings) -> None:
    """Send the ``service`` loggers to stderr as JSON (or plain key=value text); idempotent."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(settings.log_level)
    if any(getattr(h, _HANDLER_MARK, False) for h in logger.handlers):
        return
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if settings.log_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
        )
    )
    setattr(handler, _HANDLER_MARK, True)
    logger.addHandler(handler)
    logger.propagate = False


_REQUESTS = logging.getLogger("service.request")
bp = Blueprint("metrics", __name__)


LOOPBACK = ("127.0.0.1", "::1")


@bp.get("/metrics", endpoint="metrics")  # the endpoint keeps its name in logs and metrics
def prometheus() -> Response:
    """Prometheus metrics (text exposition format); no personal data.

    With ``LETHE_METRICS_TOKEN`` set, only to ``Authorization: Bearer <token>``;
    without it, only to clients on the loopback interface.
    """
    token = service().settings.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise Unauthenticated("GET /metrics needs Authorization: Bearer and the LETHE_METRICS_TOKEN")
    elif request.remote_addr not in LOOPBACK:
        raise Unauthenticated("GET /metrics answers loopback clients only unless LETHE_METRICS_TOKEN is set")
    return Response(generate_latest(metrics.registry()), mimetype=CONTENT_TYPE_LATEST)


def _start() -> None:
    g.lethe_request_id = (request.headers.get("X-Request-Id") or "")[:64] or uuid.uuid4().hex
    g.lethe_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.pop("lethe_started", None)
    request_id = g.get("lethe_request_id")
    if started is not None:
        endpoint, seconds = request.endpoint or "unmatched", time.perf_counter() - started
        metrics.request_served(endpoint, request.method, response.status_code, seconds)
        _REQUESTS.info(
            "request",
            extra={
                "endpoint": endpoint,
                "method": request.method,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 2),
                "request_id": request_id,
            },
        )
    if request_id:
        response.headers["X-Request-Id"] = request_id
    return response


def init_app(app: Flask, settings: Settings) -> None:
    configure(settings)
    app.before_request(_start)
    app.after_request(_finish)
    app.register_blueprint(bp)
