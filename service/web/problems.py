"""RFC 9457 problem details for every error the API returns.

Domain errors carry their own code and status; HTTP errors from routing and
size limits get codes here; a database that went away is a retryable 503, and
so is a Redis that does not answer or refuses us (``service-not-ready``);
anything else is a bare 500 whose cause goes to the log only.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from service.errors import DatabaseUnavailable, LetheError, ServiceNotReady

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
HTTP_CODES = {
    400: "bad-request",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
}
RETRY_AFTER_S = 2


def problem(status: int, code: str, title: str, detail: str | None = None, **extra: Any) -> Response:
    body = {"type": f"/problems/{code}", "title": title, "status": status, "code": code}
    if detail and detail != title:
        body["detail"] = detail
    body.update(extra)
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)


def _from_lethe(err: LetheError) -> Response:
    if err.status >= 500 and not err.retryable:
        log.error("%s: %s", type(err).__name__, err)
    response = problem(err.status, err.code, err.title, err.detail, retryable=err.retryable, **err.extra)
    if err.retryable:
        response.headers["Retry-After"] = str(err.extra.get("retry_after", RETRY_AFTER_S))
    return response


def _from_http(err: HTTPException) -> Response:
    status = err.code or 500
    code = HTTP_CODES.get(status, f"http-{status}")
    response = problem(status, code, err.name, err.description)
    for name, value in err.get_headers():  # e.g. a 405's Allow
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _from_database(err: DBAPIError) -> Response:
    log.warning("database unavailable: %s", type(err.orig).__name__)
    return _from_lethe(DatabaseUnavailable())


def _from_redis(err: RedisError) -> Response:
    log.warning("redis unavailable: %s", type(err).__name__)
    return _from_lethe(ServiceNotReady("Redis does not answer; retry shortly"))


def _from_unexpected(err: Exception) -> Response:
    log.error("unhandled %s", type(err).__name__, exc_info=err)
    return problem(500, "internal-error", "Internal error")


def init_app(app: Flask) -> None:
    app.register_error_handler(LetheError, _from_lethe)
    app.register_error_handler(HTTPException, _from_http)
    app.register_error_handler(OperationalError, _from_database)
    app.register_error_handler(RedisError, _from_redis)
    app.register_error_handler(Exception, _from_unexpected)
