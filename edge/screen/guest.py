"""One guest at the kiosk's screen, from "getting ready" to the result, and the kiosk's exit status.

The run is a small state machine::

    starting ──(identity, models, service, camera all fine)──► scan (attract screen)
       │  ▲                                                      │ booking QR read
       ▼  │ retry with backoff                                   ▼
    out-of-order                                  FLOWS[mode]: the flow the guest chose
                                                  ("check-in" or "check-out")

``starting`` loads the kiosk's identity and models (:func:`edge.kiosk.load_parts`),
reports to the service that the kiosk is ready (the answer carries the hotel's
name, logo and accent colour, and the receipt key), and opens each camera once.
When any of that fails the kiosk cannot work: it logs the cause (code and
detail), shows "out of order, please see the front desk", reports the code to
the service when it can, and tries again after a delay that doubles up to a
bound (with jitter, so a fleet does not retry in step) instead of exiting into
a restart loop. An unreachable service first shows "one moment" for
``unreachable_grace_s``: a short network blip does not put the kiosk out of order.

After the booking QR, :data:`FLOWS` maps the mode chosen on the attract screen
to the flow that serves the guest. A flow is a function of the run's
:class:`GuestRun` that ends on a final screen and returns the exit status. In
check-in mode a choice screen after the QR (:meth:`~edge.screen.state.GuestScreen.ask`)
offers "Check in" and "I'm already checked in — new key card" (:func:`new_key_card`:
the face against the stay's stored template, no ID step; a stay not yet checked
in is told so and offered the check-in).
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import segno

from edge.client import ServiceClient
from edge.errors import ConsentRefused, EdgeError, ExitStatus, ServiceProblem, ServiceUnreachable, log_failure
from edge.kiosk import KioskParts, load_parts, run_checkin
from edge.qr import read_booking
from edge.screen.state import GuestScreen
from edge.screen.theme import theme
from edge.settings import KioskSettings
from edge.sources import TappedSource, open_source
from protocol import BookingCode, receipt_fragment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GuestOptions:
    """Where the kiosk reads its frames from (command-line specs, see :func:`edge.sources.open_source`)."""

    source: str
    id_image: Path | None = None
    id_source: str | None = None
    booking_source: str | None = None
    realtime: bool = False

    def cameras(self) -> list[str]:
        """Every source the run will open, once each."""
        specs = [self.booking_source or self.source, self.source]
        if self.id_image is None:
            specs.append(self.id_source or self.source)
        return list(dict.fromkeys(specs))


class Backoff:
    """Delays that double from ``initial_s`` up to ``max_s``, each scaled by a random factor in ``[1 - jitter, 1]``.

    Hand-written rather than a retry library's: the wait must be interruptible
    (the kiosk is stopping) and show on the screen between tries, which is the
    loop in :func:`get_ready`; this class is only the arithmetic. Tests pass a
    seeded ``rng`` or ``jitter=0``.
    """

    def __init__(
        self, initial_s: float, max_s: float, *, jitter: float = 0.2, rng: random.Random | None = None
    ) -> None:
        self._initial, self._max, self._jitter = initial_s, max_s, jitter
        self._rng = rng or random.Random()  # noqa: S311 - spreading retries needs no secrecy
        self.attempts = 0

    def next(self) -> float:
        delay = min(self._max, self._initial * 2.0 ** min(self.attempts, 64))  # past the bound, never overflow
        self.attempts += 1
        return float(delay * (1 - self._jitter * self._rng.random()))


@dataclass
class Ready:
    """A kiosk that can work: its loaded parts and what the service said to show."""

    parts: KioskParts
    status: dict[str, Any] = field(default_factory=dict)


def report_status(settings: KioskSettings, parts: KioskParts | None, state: str, error: str | None) -> dict[str, Any]:
    """Tell the service this kiosk's state; return its answer (raises :class:`EdgeError`)."""
    if parts is None:
        return {}
    client = ServiceClient.from_settings(settings, parts.identity)
    try:
        return client.report_status(parts.identity, state, error)
    finally:
        client.close()


def _check_cameras(options: GuestOptions) -> None:
    for spec in options.cameras():
        with open_source(spec, realtime=False):
            pass


def get_ready(
    screen: GuestScreen,
    settings: KioskSettings,
    options: GuestOptions,
    *,
    backoff: Backoff,
    retry_for_s: float | None = None,
    stop: threading.Event | None = None,
) -> Ready:
    """Load, report and open everything a check-in needs, retrying with ``backoff`` until it works.

    Raises the last :class:`EdgeError` once ``retry_for_s`` has passed without
    success (``None``: keep trying), or when ``stop`` is set or the screen closed.
    """
    stop = stop or threading.Event()
    started = time.monotonic()
    unreachable_since: float | None = None
    parts: KioskParts | None = None
    screen.step("starting", error=None)
    while True:
        try:
            parts = parts or load_parts(settings)
            _check_cameras(options)
            status = report_status(settings, parts, "ready", None)
        except EdgeError as exc:
            log_failure(log, "the kiosk cannot work", exc)
            now = time.monotonic()
            unreachable_since = (unreachable_since or now) if isinstance(exc, ServiceUnreachable) else None
            if unreachable_since is not None and now - unreachable_since < settings.unreachable_grace_s:
                screen.step("starting", error=None)
            else:
                screen.step("out-of-order", error=exc.code)
                _report_quietly(settings, parts, exc.code)
            if retry_for_s is not None and now - started >= retry_for_s:
                raise
            delay = backoff.next()
            log.info("trying again in %.1f s (attempt %d)", delay, backoff.attempts)
            if stop.wait(delay) or screen.closed:
                raise
            continue
        log.info("the kiosk is ready")
        return Ready(parts, status)


def _report_quietly(settings: KioskSettings, parts: KioskParts | None, code: str) -> None:
    """Best effort: an out-of-order kiosk tells the service why, when the service can hear it."""
    if code in ("service-unreachable", "kiosk-not-registered", "kiosk-revoked", "kiosk-suspended"):
        return
    try:
        report_status(settings, parts, "out-of-order", code)
    except EdgeError as exc:
        log.warning("the out-of-order report did not reach the service: %s", exc.code)


@dataclass
class GuestRun:
    """One guest's run: what every flow gets."""

    screen: GuestScreen
    settings: KioskSettings
    options: GuestOptions
    ready: Ready
    code: BookingCode


def _result(run: GuestRun, accepted: bool, accepted_screen: str, rejected_screen: str, first_name: Any) -> None:
    if accepted:
        run.screen.finish(accepted_screen, first_name=first_name)
    else:
        run.screen.finish(rejected_screen)
    timings = run.screen.timings
    log.info(
        "result on screen %.2f s after the booking QR, %.2f s after the first usable face frame",
        timings["result"] - timings["qr-read"],
        timings["result"] - timings["first-good-frame"],
    )


def new_key_card(run: GuestRun) -> ExitStatus:
    """A guest already checked in (a new key card): consent, the face against the stay's stored template.

    The service refuses a stay that is not checked in when the session opens,
    before consent or capture; the guest is told so and offered the check-in.
    On "reverified" the kiosk shows "take your card below": the PMS, told by the
    ``stay.reverified`` event, has the card encoder at the kiosk cut it.
    """
    try:
        outcome = run_checkin(
            run.settings,
            source=run.options.source,
            id_image=None,
            booking=str(run.code),
            realtime=run.options.realtime,
            on_guidance=run.screen.guidance,
            screen=run.screen,
            parts=run.ready.parts,
            reverify=True,
        )
    except ServiceProblem as exc:
        if exc.code != "stay-not-checked-in":
            raise
        log.info("the booking is not checked in yet: offering the check-in")
        if run.screen.ask("not-checked-in", ["check-in"], timeout_s=run.screen.consent_timeout_s) is None:
            raise ConsentRefused("the guest did not go on to check in") from None
        return check_in(run)
    run.screen.timings["first-good-frame"] = outcome.first_good_frame_at
    accepted = outcome.decision.get("decision") == "accepted"
    _result(run, accepted, "reverified", "reverify-rejected", outcome.decision.get("first_name"))
    return ExitStatus.ACCEPTED if accepted else ExitStatus.REJECTED


def check_in(run: GuestRun) -> ExitStatus:
    """Consent, the ID, the face, the decision (``edge.kiosk.run_checkin``, with this screen as its hooks)."""
    outcome = run_checkin(
        run.settings,
        source=run.options.source,
        id_image=run.options.id_image,
        id_source=run.options.id_source,
        booking=str(run.code),
        realtime=run.options.realtime,
        on_guidance=run.screen.guidance,
        screen=run.screen,
        parts=run.ready.parts,
    )
    run.screen.timings["first-good-frame"] = outcome.first_good_frame_at
    accepted = outcome.decision.get("decision") == "accepted"
    _result(run, accepted, "accepted", "rejected", outcome.decision.get("first_name"))
    return ExitStatus.ACCEPTED if accepted else ExitStatus.REJECTED


def check_out(run: GuestRun) -> ExitStatus:
    """Confirm, check out at the service, and show the receipt's link as a QR code for the guest's phone."""
    if run.screen.ask("checkout-confirm", ["check-out"], timeout_s=run.screen.consent_timeout_s) is None:
        raise ConsentRefused("the guest did not confirm the checkout")
    run.screen.step("checking-out")
    client = ServiceClient.from_settings(run.settings, run.ready.parts.identity)
    try:
        receipt = client.checkout(run.ready.parts.identity, run.code)
    finally:
        client.close()
    page = run.ready.status.get("receipt", {}).get("page_url") or f"{run.settings.service_url.rstrip('/')}/receipt"
    link = f"{page}#{receipt_fragment(receipt)}"
    run.screen.receipt_qr_svg = qr_svg(link)
    claims = receipt["claims"]
    run.screen.finish(
        "checked-out", receipt_key_id=receipt["key_id"], deleted=claims["deleted"], deleted_at=claims["deleted_at"]
    )
    return ExitStatus.ACCEPTED


def qr_svg(text: str) -> str:
    """``text`` as a standalone SVG QR code that scales to any size (a viewBox, no fixed size)."""
    out = io.BytesIO()
    segno.make(text, error="l").save(out, kind="svg", xmldecl=False, omitsize=True, border=4)
    return out.getvalue().decode()


FLOWS: dict[str, Callable[[GuestRun], ExitStatus]] = {
    "check-in": check_in,
    "check-out": check_out,
    "new-card": new_key_card,
}
CHOICES = ("check-in", "new-card")  # offered after the QR in check-in mode


def _choose_flow(run: GuestRun) -> str:
    """Check-out mode checks out; check-in mode asks: check in, or (already checked in) a new key card."""
    if run.screen.mode == "check-out":
        return "check-out"
    choice = run.screen.ask("choose", CHOICES, timeout_s=run.screen.consent_timeout_s)
    if choice is None:
        raise ConsentRefused("the guest did not choose")
    return choice


@contextmanager
def _heartbeat(settings: KioskSettings, ready: Ready) -> Iterator[None]:
    """Report "ready" every ``status_interval_s`` while the kiosk waits for a guest (the Kiosks page's last seen)."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(settings.status_interval_s):
            try:
                report_status(settings, ready.parts, "ready", None)
            except EdgeError as exc:
                log.warning("status report failed: %s", exc.code)

    thread = threading.Thread(target=beat, name="kiosk-status", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


def _attract_details(ready: Ready) -> dict[str, Any]:
    hotel = ready.status.get("property", {})
    return {
        "error": None,
        "hotel": hotel.get("name"),
        "has_logo": bool(hotel.get("logo")),
        "theme": theme(hotel.get("accent_colour")),
        "receipt_key_id": ready.status.get("receipt", {}).get("key_id"),
    }


def run_guest(
    screen: GuestScreen,
    settings: KioskSettings,
    *,
    source: str,
    id_image: Path | None = None,
    id_source: str | None = None,
    booking_source: str | None = None,
    realtime: bool = False,
    retry_for_s: float | None = None,
    backoff: Backoff | None = None,
    stop: threading.Event | None = None,
) -> ExitStatus:
    """Serve one guest on ``screen``; always end on a final screen and return the exit status (docs/api.md).

    A kiosk that cannot work stays on the out-of-order screen, retrying, for
    ``retry_for_s`` (``None``: until it works or ``stop`` is set); then the
    error's own status is returned.
    """
    options = GuestOptions(source, id_image, id_source, booking_source, realtime)
    backoff = backoff or Backoff(settings.retry_initial_s, settings.retry_max_s)
    try:
        ready = get_ready(screen, settings, options, backoff=backoff, retry_for_s=retry_for_s, stop=stop)
    except EdgeError as exc:
        screen.finish("out-of-order", error=exc.code)
        return exc.exit_status
    screen.logo = _logo(ready)
    screen.step("scan", **_attract_details(ready))
    try:
        with _heartbeat(settings, ready):
            run = GuestRun(screen, settings, options, ready, _read_booking(screen, settings, options))
        return FLOWS[_choose_flow(run)](run)
    except ConsentRefused as exc:
        log.info("the guest went to the front desk: %s", exc.detail)
        screen.finish("front-desk", error=None)
        return exc.exit_status
    except EdgeError as exc:
        log_failure(log, "the guest's run failed", exc)
        screen.finish("front-desk", error=exc.code)
        return exc.exit_status
    except Exception as exc:
        # A kiosk must never leave the guest on a frozen screen.
        log_failure(log, "the guest's run failed", exc)
        screen.finish("front-desk", error="kiosk-error")
        return ExitStatus.KIOSK_ERROR


def _read_booking(screen: GuestScreen, settings: KioskSettings, options: GuestOptions) -> BookingCode:
    """Wait on the attract screen for a booking QR (a camera: as long as it takes; a file: to its end)."""
    source = TappedSource(
        open_source(options.booking_source or options.source, realtime=options.realtime),
        screen.show_frame,
        screen.cancelled,
    )
    with source as frames:
        try:
            code = read_booking(frames, max_seconds=math.inf)
        except EdgeError:
            if screen.cancelled():
                raise ConsentRefused("the guest chose the front desk") from None
            raise
    if screen.cancelled():
        raise ConsentRefused("the guest chose the front desk")
    screen.timings["qr-read"] = time.monotonic()
    log.info("booking QR read (%s)", screen.mode)
    return code


def _logo(ready: Ready) -> tuple[bytes, str] | None:
    logo = ready.status.get("property", {}).get("logo")
    if not logo:
        return None
    try:
        return base64.b64decode(logo["data"], validate=True), str(logo["media_type"])
    except (binascii.Error, KeyError, TypeError, ValueError):
        log.warning("the service sent a logo that is not base64 data")
        return None
