"""What the guest's screen shows, and the guest's answers: shared between the kiosk's run and the page.

A :class:`GuestScreen` holds one state document (which screen, its details, the
guest's language is the page's own business) and a version number that grows
with every change, so the page is pushed each change as it happens (server-sent
events) instead of polling. It is also the check-in run's hooks
(``edge.kiosk.GuestScreenHooks``): the run reports each step and every camera
frame, asks the guest questions, and stops when the guest chooses the front desk.

Questions are one mechanism for every choice the guest makes on the screen
(the consent notice, confirming a checkout, and any later choice such as a
second flow after the booking QR): :meth:`GuestScreen.ask` shows a screen with
a set of answers and blocks until the page posts one of them, the guest chooses
the front desk, or the time runs out.

The preview is the latest camera frame, scaled to :data:`PREVIEW_WIDTH`, held
in memory only and dropped at every step and when the run ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

import cv2

from edge.errors import ConsentRefused
from edge.screen.texts import GUIDANCE_KEYS, STEADY
from edge.sources import Image

PREVIEW_WIDTH = 640
CONSENT_TIMEOUT_S = 120.0
MODES = ("check-in", "check-out")
ACCEPT = "accept"


class GuestScreen:
    """The state the page shows, the guest's answers, and the hooks a check-in run reports to."""

    def __init__(self, *, consent_timeout_s: float = CONSENT_TIMEOUT_S, mode: str = MODES[0]) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self._changed = threading.Condition()
        self._version = 0
        self._state: dict[str, Any] = {"screen": "starting", "mode": mode}
        self._preview: Image | None = None
        self._preview_seq = 0
        self._options: frozenset[str] = frozenset()
        self._answer: str | None = None
        self._cancelled = threading.Event()
        self._closed = False
        self.consent_timeout_s = consent_timeout_s
        self.finished = threading.Event()
        self.logo: tuple[bytes, str] | None = None
        self.receipt_qr_svg: str | None = None
        # time.monotonic() of what the guest feels: "qr-read", "first-good-frame", "result" (logged, benchmarked)
        self.timings: dict[str, float] = {}

    def _update(self, **changes: Any) -> None:
        with self._changed:
            self._state = self._state | changes
            self._version += 1
            self._changed.notify_all()

    # Hooks for edge.kiosk.run_checkin.
    def step(self, screen: str, **details: Any) -> None:
        """Show ``screen``; each step shows only frames from its own source, and no earlier guidance."""
        with self._changed:
            self._preview = None
        self._update(**({"screen": screen, "guidance": None, "options": []} | details))

    def show_frame(self, image: Image) -> None:
        height, width = image.shape[:2]
        scale = PREVIEW_WIDTH / width
        small = cast(Image, cv2.resize(image, (PREVIEW_WIDTH, round(height * scale)), interpolation=cv2.INTER_AREA))
        with self._changed:
            self._preview = small
            self._preview_seq += 1
            self._changed.notify_all()

    def guidance(self, message: str) -> None:
        """What the capture tells the guest; an empty message means it has good frames and is deciding."""
        self._update(guidance=GUIDANCE_KEYS.get(message) if message else STEADY)

    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def ask_consent(self, notice: Mapping[str, Any] | None) -> int:
        if notice is None:
            raise ConsentRefused("the service sent no consent notice")
        if self.ask("consent", [ACCEPT], timeout_s=self.consent_timeout_s, consent=dict(notice)) != ACCEPT:
            raise ConsentRefused("the guest did not accept the consent notice")
        self._update(consent=None)
        return int(notice["version"])

    # Questions.
    def ask(self, screen: str, options: Iterable[str], *, timeout_s: float, **details: Any) -> str | None:
        """Show ``screen`` with ``options``; return the guest's answer, or ``None`` (front desk, or no answer)."""
        with self._changed:
            self._options = frozenset(options)
            self._answer = None
        self.step(screen, options=sorted(self._options), **details)
        with self._changed:
            self._changed.wait_for(lambda: self._answer is not None or self.cancelled(), timeout=timeout_s)
            answer, self._answer, self._options = self._answer, None, frozenset()
        return None if self.cancelled() else answer

    # Actions from the page.
    def answer(self, option: str) -> bool:
        """The guest chose ``option`` on the current question; false when no question offers it."""
        with self._changed:
            if option not in self._options:
                return False
            self._answer = option
            self._changed.notify_all()
        return True

    def choose_front_desk(self) -> None:
        """The guest chose the front desk: stop the run (it records the refusal at the service)."""
        self._cancelled.set()
        with self._changed:
            self._changed.notify_all()

    def choose_mode(self, mode: str) -> bool:
        """Check in or check out, chosen on the attract screen before the booking QR is read."""
        if mode not in MODES or self._state["screen"] != "scan":
            return False
        self._update(mode=mode)
        return True

    @property
    def mode(self) -> str:
        with self._changed:
            return str(self._state["mode"])

    def finish(self, screen: str, **details: Any) -> None:
        """The run is over: show ``screen`` and forget the preview."""
        with self._changed:
            self._preview = None
        self.timings["result"] = time.monotonic()
        self._update(**({"screen": screen, "guidance": None, "consent": None, "options": []} | details))
        self.finished.set()

    def close(self) -> None:
        """Release every page stream (the server is stopping)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    # What the page reads.
    def state(self) -> dict[str, Any]:
        with self._changed:
            return dict(self._state)

    def wait_for_change(self, seen: int, timeout_s: float) -> tuple[int, dict[str, Any]] | None:
        """The state once its version passes ``seen``; ``None`` on timeout or when closed."""
        with self._changed:
            self._changed.wait_for(lambda: self._version > seen or self._closed, timeout=timeout_s)
            if self._closed or self._version <= seen:
                return None
            return self._version, dict(self._state)

    def preview_jpeg(self, after: int = -1, timeout_s: float = 0.0) -> tuple[int, bytes] | None:
        """The newest preview frame after sequence number ``after`` as JPEG, waiting up to ``timeout_s``."""
        with self._changed:
            self._changed.wait_for(
                lambda: (self._preview is not None and self._preview_seq > after) or self._closed, timeout=timeout_s
            )
            frame, seq = self._preview, self._preview_seq
            if frame is None or self._closed or seq <= after:
                return None
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 75])
        return (seq, bytes(data)) if ok else None

    @property
    def closed(self) -> bool:
        with self._changed:
            return self._closed
