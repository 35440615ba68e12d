"""Structured logs (structlog): one JSON object a line, never personal or biometric data.

The ``service`` loggers write through structlog's formatter: a timestamp, the
level, the logger, the event and its fields. Each request adds one ``request``
line with the endpoint name (never the path: it can hold a booking reference),
method, status, duration and a request id (also sent back as ``X-Request-Id``).
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from typing import TextIO

import structlog
from flask import Flask, Response, g, request

from service.settings import Settings

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


def request_id(header: str | None) -> str:
    """The request's id: the caller's ``X-Request-Id`` (at most 64 characters), or a new random one."""
    return (header or "")[:64] or uuid.uuid4().hex


def log_request(endpoint: str, method: str, status: int, seconds: float, request_id: str) -> None:
    """The one ``request`` line per request (the endpoint's name, never its path)."""
    _REQUESTS.info(
        "request",
        extra={
            "endpoint": endpoint,
            "method": method,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "request_id": request_id,
        },
    )


def _start() -> None:
    g.lethe_request_id = request_id(request.headers.get("X-Request-Id"))
    g.lethe_log_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.pop("lethe_log_started", None)
    rid = g.get("lethe_request_id")
    if started is not None:
        log_request(
            request.endpoint or "unmatched", request.method, response.status_code, time.perf_counter() - started, rid
        )
    if rid:
        response.headers["X-Request-Id"] = rid
    return response


def init_app(app: Flask, settings: Settings) -> None:
    configure(settings)
    app.before_request(_start)
    app.after_request(_finish)
