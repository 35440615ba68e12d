"""The guest screen's local web server: the page, its state as server-sent events, the camera preview, answers.

It binds 127.0.0.1 and refuses any peer that is not loopback; nothing is
cached. The page gets every state change pushed on ``/events`` as it happens
(no polling delay between the decision and the guest seeing it), and the live
preview as a motion-JPEG stream that is encoded only while a page shows it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

from flask import Flask, Response, abort, jsonify, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from edge.screen.state import GuestScreen
from edge.screen.texts import TEXTS

STATIC = Path(__file__).with_name("static")
LOOPBACK = frozenset({"127.0.0.1", "::1"})
KEEPALIVE_S = 15.0
BOUNDARY = b"frame"


def create_screen_app(screen: GuestScreen) -> Flask:
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    page = (STATIC / "screen.html").read_text(encoding="utf-8")

    @app.before_request
    def _loopback_only() -> None:
        if request.remote_addr not in LOOPBACK:
            abort(403)

    @app.after_request
    def _no_store(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
        )
        return response

    @app.get("/")
    def index() -> Response:
        return Response(page, mimetype="text/html")

    @app.get("/texts")
    def texts() -> Response:
        return jsonify(TEXTS)

    @app.get("/state")
    def state() -> Response:
        return jsonify(screen.state())

    @app.get("/events")
    def events() -> Response:
        def stream() -> Iterator[str]:
            seen = -1
            yield "retry: 1000\n\n"
            while not screen.closed:
                change = screen.wait_for_change(seen, KEEPALIVE_S)
                if change is None:
                    yield ": keep-alive\n\n"
                    continue
                seen, current = change
                yield f"data: {json.dumps(current)}\n\n"

        return Response(stream(), mimetype="text/event-stream")

    @app.get("/preview.jpg")
    def preview() -> Response:
        frame = screen.preview_jpeg()
        if frame is None:
            return Response(status=204)
        return Response(frame[1], mimetype="image/jpeg")

    @app.get("/preview.mjpg")
    def preview_stream() -> Response:
        def stream() -> Iterator[bytes]:
            # Each frame is followed by the next part's boundary and headers: a browser shows a part
            # only once the next one has begun, so the guest sees each frame as soon as it is sent.
            part = b"\r\n--%s\r\nContent-Type: image/jpeg\r\n\r\n" % BOUNDARY
            yield part
            seen = -1
            while not screen.closed:
                frame = screen.preview_jpeg(seen, timeout_s=KEEPALIVE_S)
                if frame is None:
                    continue
                seen, data = frame
                yield data + part

        return Response(stream(), mimetype=f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")

    @app.get("/logo")
    def logo() -> Response:
        if screen.logo is None:
            return Response(status=404)
        data, media_type = screen.logo
        return Response(data, mimetype=media_type)

    @app.get("/receipt-qr.svg")
    def receipt_qr() -> Response:
        if screen.receipt_qr_svg is None:
            return Response(status=404)
        return Response(screen.receipt_qr_svg, mimetype="image/svg+xml")

    @app.post("/answer/<option>")
    def answer(option: str) -> Response:
        if not screen.answer(option):
            return Response(json.dumps({"ok": False}), status=409, mimetype="application/json")
        return jsonify(ok=True)

    @app.post("/mode/<mode>")
    def mode(mode: str) -> Response:
        if not screen.choose_mode(mode):
            return Response(json.dumps({"ok": False}), status=409, mimetype="application/json")
        return jsonify(ok=True)

    @app.post("/front-desk")
    def front_desk() -> Response:
        screen.choose_front_desk()
        return jsonify(ok=True)

    return app


class _QuietHandler(WSGIRequestHandler):
    """Logs only failed requests: the page asks for its state several times a second, all day."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code).isdigit() and int(code) >= 400:
            super().log_request(code, size)


def serve(app: Flask, port: int) -> BaseWSGIServer:
    """Start the page's server on 127.0.0.1:``port`` (0: any free port) in a daemon thread; return it."""
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="guest-screen", daemon=True).start()
    return server
