"""``POST /api/v1/verify`` answered in WSGI, without Flask's per-request machinery (the verification hot path).

Flask's app and request contexts, URL matching, the app's before/after hooks
and its response handling cost about 0.3–0.4 ms of a verification, a quarter
of it (measured in process: 1.07–1.15 ms a verification with this path against
1.39–1.78 ms through Flask, SQLite, alternating runs). This middleware sits in
front of the Flask app and answers that one route itself, doing for it exactly
what the route and the app's hooks do:

* the key-folder check (``service.keys``) before the request;
* the media type check and the body read within ``LETHE_MAX_BODY_BYTES``;
* :func:`service.api.kiosk.verify_envelope`, the same function the Flask view calls;
* problem answers from ``service.problems.answer``, the Flask error handlers' own mapping;
* the ``X-Request-Id`` header, the request metric and the ``request`` log line;
* the JSON answer as Flask's JSON provider writes it (its ``dumps`` and media type).

Every other request, and this one with ``LETHE_VERIFY_FAST_PATH=false``, goes
to Flask unchanged. A test sends the same requests both ways and compares the
answers, metrics and log lines.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from flask import Flask
from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_input_stream

from service import keys, limits, logs, metrics, problems
from service.api import kiosk
from service.context import EXTENSION, Service

PATH = "/api/v1/verify"
ENDPOINT = "kiosk_api.verify"  # the Flask route's name: metrics and logs label this path as they label the route


class VerifyFastPath:
    """WSGI middleware: ``POST /api/v1/verify`` here, everything else to ``wsgi_app`` (Flask's)."""

    def __init__(self, app: Flask, wsgi_app: Any) -> None:
        self._app = app
        self._wsgi_app = wsgi_app
        self._key_dir = str(app.extensions[EXTENSION].settings.resolved_key_dir)
        self._limit = app.extensions[limits.EXTENSION].hit
        self._max_body = int(app.config["MAX_CONTENT_LENGTH"])
        provider: Any = app.json
        self._mimetype = provider.mimetype
        self._dumps = provider.dumps
        # the layout DefaultJSONProvider.response() picks: indented only when debugging
        self._layout = (
            {"indent": 2}
            if provider.compact is False or (provider.compact is None and app.debug)
            else {"separators": (",", ":")}
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self._wsgi_app(environ, start_response)  # type: ignore[no-any-return]
        started = time.perf_counter()
        request_id = logs.request_id(environ.get("HTTP_X_REQUEST_ID"))
        try:
            keys.reload_if_changed(self._app, self._key_dir)
            body = self._verify(environ)
        except Exception as exc:  # as Flask's handlers answer it: a problem, never a traceback
            response = problems.answer(exc)
            response.headers["X-Request-Id"] = request_id
            self._served(response.status_code, started, request_id)
            return response(environ, start_response)
        # The answer Flask's JSON provider would make, without a Response object (~30 µs a verification).
        headers = [("Content-Type", self._mimetype), ("Content-Length", str(len(body))), ("X-Request-Id", request_id)]
        start_response("200 OK", headers)
        self._served(200, started, request_id)
        return [body]

    def _verify(self, environ: dict[str, Any]) -> bytes:
        kiosk.check_envelope_type(parse_options_header(environ.get("CONTENT_TYPE", ""))[0].lower())
        body = get_input_stream(environ, max_content_length=self._max_body).read()  # 413 when over the limit
        svc: Service = self._app.extensions[EXTENSION]  # read per request: a key reload replaces it
        result = kiosk.verify_envelope(svc, body, self._limit)
        return f"{self._dumps(result.as_json(), **self._layout)}\n".encode()  # as DefaultJSONProvider.response()

    def _served(self, status: int, started: float, request_id: str) -> None:
        seconds = time.perf_counter() - started
        metrics.request_served(ENDPOINT, "POST", status, seconds)
        logs.log_request(ENDPOINT, "POST", status, seconds, request_id)


def init_app(app: Flask, enabled: bool) -> None:
    if enabled:
        app.wsgi_app = VerifyFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
