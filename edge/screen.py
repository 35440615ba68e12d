"""The guest's screen: a local web page the kiosk serves on 127.0.0.1 for a browser in kiosk mode.

One check-in runs in a background thread (:func:`edge.kiosk.run_checkin`) and
reports its steps here; the page polls ``/state`` and shows, in large type and
in English or Simplified Chinese: scan the booking QR → the property's consent
notice → reading the ID photo → look at the camera (live guidance and the
challenge) → the result. "Check in at the front desk instead" is always on
screen; choosing it (or leaving the notice unanswered for the consent timeout)
stops the run, and once a session is open the kiosk records the refusal at the
service, which closes the session (``edge.kiosk.run_checkin``). Any kiosk-side
error or an unreachable service (bounded by the HTTP timeout) ends on "please
see the front desk"; nothing is kept either way.

The camera preview is the latest frame, scaled down, held in memory only and
served to loopback clients only; it is dropped when the run ends. The server
binds 127.0.0.1 and also refuses any request whose peer is not loopback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import cv2
from flask import Flask, Response, abort, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

from edge.challenge import INSTRUCTIONS
from edge.errors import ConsentRefused, EdgeError
from edge.idrecord import ID_GUIDANCE
from edge.quality import GUIDANCE
from edge.settings import KioskSettings
from edge.sources import Image

log = logging.getLogger(__name__)
PAGE = Path(__file__).with_name("static") / "screen.html"
PREVIEW_WIDTH = 320
LOOPBACK = frozenset({"127.0.0.1", "::1"})
CONSENT_TIMEOUT_S = 120.0
# What the kiosk says (English, as edge.quality and edge.challenge word it) -> a key the page translates.
GUIDANCE_KEYS = (
    {text: key for key, text in GUIDANCE.items()}
    | {text: f"do-{key}" for key, text in INSTRUCTIONS.items()}
    | {text: f"id-{key}" for key, text in ID_GUIDANCE.items()}
)
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Check-in",
        "language": "中文",
        "front-desk-button": "Check in at the front desk instead",
        "accept-button": "I agree: check me in by face",
        "scan": "Please show the QR code from your booking confirmation to the camera.",
        "consent": "Before we start",
        "id": "Reading your ID photo…",
        "id-camera": "Please hold the photo page of your ID document up to the camera.",
        "id-no-face": "Hold the photo page of your ID document up to the camera.",
        "id-no-document": "Hold your ID document up to the camera, the whole document in view.",
        "id-multiple-faces": "Hold the ID document closer, so that only its photo is in view.",
        "id-face-too-small": "Hold the ID document closer to the camera.",
        "id-too-blurry": "Hold the ID document still.",
        "id-too-dark": "More light on the ID document, please.",
        "id-too-bright": "Tilt the ID document a little: there is glare on it.",
        "id-low-contrast": "More light on the ID document, please.",
        "face": "Look at the camera: we are checking you in.",
        "sending": "Checking…",
        "accepted": "Welcome! You are checked in.",
        "rejected": "We could not confirm it is you. Please see the front desk.",
        "front-desk": "Please see the front desk. Nothing has been kept.",
        "no-face": "Please look at the camera.",
        "multiple-faces": "Only one person please.",
        "face-too-small": "Please come closer.",
        "too-blurry": "Please hold still.",
        "too-dark": "More light, please.",
        "too-bright": "Too much light behind or on you.",
        "low-contrast": "More light, please.",
        "not-frontal": "Please look at the camera.",
        "eyes-closed": "Please open your eyes.",
        "do-none": "Please look at the camera.",
        "do-blink": "Please blink.",
        "do-turn-left": "Please turn your head slowly to your left.",
        "do-turn-right": "Please turn your head slowly to your right.",
    },
    "zh-Hans": {
        "title": "入住登记",
        "language": "English",
        "front-desk-button": "改到前台办理入住",
        "accept-button": "我同意：刷脸办理入住",
        "scan": "请将预订确认中的二维码对准摄像头。",
        "consent": "开始之前",
        "id": "正在读取您的证件照片…",
        "id-camera": "请将证件的照片页对准摄像头。",
        "id-no-face": "请将证件的照片页对准摄像头。",
        "id-no-document": "请将您的证件对准摄像头，让整张证件都在画面中。",
        "id-multiple-faces": "请将证件靠近一些，使画面中只有证件照片。",
        "id-face-too-small": "请将证件靠近摄像头。",
        "id-too-blurry": "请拿稳证件。",
        "id-too-dark": "请让证件上的光线更亮一些。",
        "id-too-bright": "请稍微倾斜证件：证件上有反光。",
        "id-low-contrast": "请让证件上的光线更亮一些。",
        "face": "请看着摄像头，正在为您办理。",
        "sending": "正在核验…",
        "accepted": "欢迎！您已完成入住。",
        "rejected": "无法确认您的身份，请到前台办理。",
        "front-desk": "请到前台办理。本机未保留任何信息。",
        "no-face": "请看摄像头。",
        "multiple-faces": "请一次一人。",
        "face-too-small": "请靠近一些。",
        "too-blurry": "请保持不动。",
        "too-dark": "请增加光线。",
        "too-bright": "背后或身上的光线太强。",
        "low-contrast": "请增加光线。",
        "not-frontal": "请看摄像头。",
        "eyes-closed": "请睁开眼睛。",
        "do-none": "请看摄像头。",
        "do-blink": "请眨眼。",
        "do-turn-left": "请慢慢向左转头。",
        "do-turn-right": "请慢慢向右转头。",
    },
}


class GuestScreen:
    """The state the page shows, and the hooks a check-in run reports to (see ``GuestScreenHooks``)."""

    def __init__(self, *, consent_timeout_s: float = CONSENT_TIMEOUT_S) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"screen": "scan", "guidance": None, "challenge": None, "consent": None}
        self._preview: Image | None = None
        self._choice = threading.Event()
        self._accepted = False
        self._cancelled = threading.Event()
        self._consent_timeout_s = consent_timeout_s
        self.finished = threading.Event()

    # Hooks for run_checkin.
    def step(self, screen: str, **details: Any) -> None:
        with self._lock:
            self._preview = None  # each step shows only frames from its own source
            self._state |= {"screen": screen, "guidance": None} | details

    def show_frame(self, image: Image) -> None:
        height, width = image.shape[:2]
        scale = PREVIEW_WIDTH / width
        small = cast(Image, cv2.resize(image, (PREVIEW_WIDTH, round(height * scale)), interpolation=cv2.INTER_AREA))
        with self._lock:
            self._preview = small

    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def guidance(self, message: str) -> None:
        with self._lock:
            self._state["guidance"] = GUIDANCE_KEYS.get(message)

    def ask_consent(self, notice: Mapping[str, Any] | None) -> int:
        if notice is None:
            raise ConsentRefused("the service sent no consent notice")
        self.step("consent", consent=dict(notice))
        if not self._choice.wait(self._consent_timeout_s) or not self._accepted or self.cancelled():
            raise ConsentRefused("the guest did not accept the consent notice")
        return int(notice["version"])

    # Actions from the page.
    def choose(self, accept: bool) -> None:
        self._accepted = accept
        if not accept:
            self._cancelled.set()
        self._choice.set()

    def finish(self, screen: str, **details: Any) -> None:
        """The run is over: show ``screen`` and forget the preview."""
        with self._lock:
            self._preview = None
            self._state |= {"screen": screen, "guidance": None, "consent": None} | details
        self.finished.set()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._state)

    def preview_jpeg(self) -> bytes | None:
        with self._lock:
            frame = self._preview
        if frame is None:
            return None
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 70])
        return bytes(data) if ok else None


def run_guest(
    screen: GuestScreen,
    settings: KioskSettings,
    *,
    source: str,
    id_image: Path | None,
    booking_source: str | None,
    realtime: bool = False,
    id_source: str | None = None,
) -> None:
    """One guest's check-in, reporting to ``screen``; always ends on a final screen."""
    from edge.kiosk import run_checkin

    try:
        outcome = run_checkin(
            settings,
            source=source,
            id_image=id_image,
            id_source=id_source,
            booking=None,
            booking_source=booking_source,
            realtime=realtime,
            on_guidance=screen.guidance,
            screen=screen,
        )
    except ConsentRefused:
        screen.finish("front-desk")
    except EdgeError as exc:
        screen.finish("front-desk", error=exc.code)
    except Exception as exc:
        # A kiosk must never leave the guest on a frozen screen; the type alone goes to the log.
        log.error("check-in run failed: %s", type(exc).__name__)
        screen.finish("front-desk", error="kiosk-error")
    else:
        screen.finish("accepted" if outcome.decision.get("decision") == "accepted" else "rejected")


def create_screen_app(screen: GuestScreen) -> Flask:
    app = Flask(__name__)
    page = PAGE.read_text(encoding="utf-8")

    @app.before_request
    def _loopback_only() -> None:
        if request.remote_addr not in LOOPBACK:
            abort(403)

    @app.after_request
    def _no_store(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
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

    @app.get("/preview.jpg")
    def preview() -> Response:
        data = screen.preview_jpeg()
        if data is None:
            return Response(status=204)
        return Response(data, mimetype="image/jpeg")

    @app.post("/consent")
    def consent() -> Response:
        screen.choose(accept=True)
        return jsonify(ok=True)

    @app.post("/front-desk")
    def front_desk() -> Response:
        screen.choose(accept=False)
        return jsonify(ok=True)

    return app


def serve(app: Flask, port: int) -> BaseWSGIServer:
    """Start the page's server on 127.0.0.1:``port`` (0: any free port) in a daemon thread; return it."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, name="guest-screen", daemon=True).start()
    return server
