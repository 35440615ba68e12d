"""The guest's screen in real headless Chromium (Debian ``chromium`` + ``chromium-driver``), recorded video as camera.

Every screen is shown in both languages at a landscape (1280×800) and a portrait
(800×1280) kiosk size, checked with axe-core (WCAG 2.2 A/AA rules, run in the page)
and photographed into ``$KIOSK_SCREENSHOT_DIR`` when it is set (``docs/screens``
holds the committed ones). The flows run the real kiosk code against the real
service: check-in (accepted with the guest's first name, rejected kindly), the
front desk, the consent timeout, out of order until the camera appears, and a
checkout whose receipt QR, read off the screen, opens a receipt page that verifies,
and the returning guest's new key card (re-verified with no ID step; a booking not
checked in is told so and offered the check-in).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from edge.errors import ExitStatus
from edge.qr import decode_qr
from edge.screen import Backoff, GuestScreen, create_screen_app, run_guest, serve
from edge.screen.guest import qr_svg
from edge.screen.theme import theme
from edge.settings import KioskSettings
from lethe.booking import render_qr
from lethe.demo import free_port
from tests.helpers.deployment import Deployment, screen_command

MISC = "faces/face_recognition/misc"
CLIP = "video/short_hamilton_clip.mp4"
AXE = Path(sys.prefix) / "node" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SIZES = {"landscape": (1280, 800), "portrait": (800, 1280)}
LANGUAGES = ("en", "zh-Hans")


@pytest.fixture(scope="module", autouse=True)
def _kiosk_viewport(browser: Any) -> Iterator[None]:
    """The shared browser at a kiosk's size for this module's tests, and back to its own size after."""
    yield
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def viewport(driver: Any, size: str) -> None:
    width, height = SIZES[size]
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def shot(driver: Any, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("KIOSK_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(folder / f"{name}.png"))


def serious_violations(driver: Any) -> list[str]:
    """axe-core's WCAG 2.2 A/AA findings of serious or critical impact on the page as it is now."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: python3 dev.py setup installs axe-core with npm", pytrace=False)
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    found = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: "tag", values: arguments[0]}}).then(
          (r) => done(r.violations.map((v) => [v.id, v.impact, v.nodes.slice(0, 3).map((n) => n.target.join(" "))])));
        """,
        AXE_TAGS,
    )
    return [f"{rule} ({impact}): {nodes}" for rule, impact, nodes in found if impact in ("serious", "critical")]


def body(driver: Any, attribute: str) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").get_attribute(attribute))


def wait_for_screen(driver: Any, *names: str, timeout: float = 180.0) -> str:
    WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: body(d, "data-screen") in names)
    return body(driver, "data-screen")


def heading(driver: Any) -> str:
    return str(driver.find_element(By.ID, "heading").text).replace("\u2011", "-")  # names keep their hyphen whole


def press_by_keyboard(driver: Any, element_id: str) -> None:
    """Tab to the button (as a guest with a keyboard would) and press Enter."""
    for _ in range(12):
        if driver.execute_script("return document.activeElement.id") == element_id:
            driver.switch_to.active_element.send_keys(Keys.ENTER)
            return
        driver.switch_to.active_element.send_keys(Keys.TAB)
    raise AssertionError(f"#{element_id} cannot be reached with the Tab key")


def choose(driver: Any, button: str) -> None:
    """On the choice screen after the booking QR, press ``button`` (``choose-checkin`` or ``choose-new-card``)."""
    assert wait_for_screen(driver, "choose") == "choose"
    WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, button).is_displayed())
    driver.find_element(By.ID, button).click()


def answer_when(screen: GuestScreen, name: str, option: str, timeout_s: float = 180.0) -> None:
    """Wait (bounded) until ``screen`` asks ``name``, then answer ``option`` as the page would."""
    seen, deadline = -1, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        change = screen.wait_for_change(seen, 5.0)
        if change is None:
            continue
        seen, state = change
        if state["screen"] == name and option in state.get("options", []):
            assert screen.answer(option)
            return
    raise AssertionError(f"no {name!r} screen offering {option!r}")


@dataclass
class Run:
    screen: GuestScreen
    url: str
    reference: str
    booking: str
    thread: threading.Thread
    status: list[ExitStatus]
    server: Any

    def join(self, timeout: float = 180) -> ExitStatus:
        self.thread.join(timeout)
        assert not self.thread.is_alive()
        return self.status[0]


@pytest.fixture
def guest_run(deployment: Deployment, testdata: Path, tmp_path: Path) -> Iterator[Any]:
    """Start one guest's run (the real kiosk code) with its screen; the test opens the page."""
    runs: list[Run] = []
    stops: list[threading.Event] = []

    def start(
        *,
        service_url: str | None = None,
        consent_timeout_s: float = 60,
        id_photo: str = "lin-manuel-miranda.png",
        source: Path | None = None,
        mode: str = "check-in",
        grace_s: float = 30.0,
        reservation: dict[str, str] | None = None,
    ) -> Run:
        reservation = reservation or deployment.reservation()
        qr = tmp_path / f"booking-{reservation['reference']}.png"
        qr.write_bytes(render_qr(reservation["booking_code"], "png"))
        settings = KioskSettings(
            service_url=service_url or deployment.url,
            key_file=deployment.instance / "kiosk" / "kiosk.json",
            http_timeout_s=3.0,
            unreachable_grace_s=grace_s,
        )
        screen = GuestScreen(consent_timeout_s=consent_timeout_s, mode=mode)
        server = serve(create_screen_app(screen), free_port())
        status: list[ExitStatus] = []
        stops.append(stop := threading.Event())
        kwargs = {
            "source": str(source or testdata / CLIP),
            "id_image": testdata / MISC / id_photo,
            "booking_source": str(qr),
            "realtime": True,
            "backoff": Backoff(0.1, 0.4, jitter=0),
            "stop": stop,
        }
        thread = threading.Thread(target=lambda: status.append(run_guest(screen, settings, **kwargs)), daemon=True)
        thread.start()
        run = Run(
            screen,
            f"http://127.0.0.1:{server.server_port}/",
            reservation["reference"],
            reservation["booking_code"],
            thread,
            status,
            server,
        )
        runs.append(run)
        return run

    yield start
    for run, stop in zip(runs, stops, strict=True):
        stop.set()  # a kiosk still retrying stops
        run.screen.choose_front_desk()
        run.screen.close()
        run.server.shutdown()
        run.thread.join(60)
        assert not run.thread.is_alive()


def test_guest_checks_in_by_keyboard_and_is_welcomed_by_first_name(
    deployment: Deployment, guest_run: Any, browser: Any
) -> None:
    run = guest_run()
    viewport(browser, "landscape")
    browser.get(run.url)
    assert wait_for_screen(browser, "choose") == "choose"
    assert browser.find_element(By.ID, "choose-new-card").text == "I'm already checked in — new key card"
    press_by_keyboard(browser, "choose-checkin")
    assert wait_for_screen(browser, "consent") == "consent"
    assert "front desk" in browser.find_element(By.ID, "notice").text
    assert browser.find_element(By.ID, "front-desk").is_displayed()
    press_by_keyboard(browser, "language")
    assert "前台" in browser.find_element(By.ID, "notice").text
    assert browser.find_element(By.ID, "front-desk").text == "改到前台办理入住"
    assert browser.execute_script("return document.documentElement.lang") == "zh-Hans"
    press_by_keyboard(browser, "language")
    press_by_keyboard(browser, "accept")
    assert wait_for_screen(browser, "id", "face", "sending", "accepted", "rejected") != "front-desk"
    assert wait_for_screen(browser, "accepted", "rejected", "front-desk") == "accepted"
    assert heading(browser) == "Welcome, Lin-Manuel!"
    assert not browser.find_element(By.ID, "front-desk").is_displayed()
    browser.find_element(By.ID, "language").click()
    assert heading(browser) == "Lin-Manuel，欢迎您！"
    assert run.join() == ExitStatus.ACCEPTED
    assert run.screen.preview_jpeg() is None  # the preview is dropped when the run ends
    state = deployment.stay_state(run.reference)
    assert state.sessions == {"used": 1}
    assert state.consent == [("accepted", 1)]


def test_a_returning_guest_gets_a_new_key_card_without_the_id_step(
    deployment: Deployment, guest_run: Any, browser: Any, testdata: Path
) -> None:
    reservation = deployment.reservation()
    status, first = deployment.kiosk(testdata / CLIP, testdata / MISC / "lin-manuel-miranda.png",
                                     reservation["booking_code"])  # fmt: skip
    assert (status, first["decision"]) == (0, "accepted"), first
    run = guest_run(reservation=reservation)
    browser.get(run.url)
    choose(browser, "choose-new-card")
    assert wait_for_screen(browser, "consent") == "consent"
    browser.find_element(By.ID, "accept").click()
    seen = wait_for_screen(browser, "id", "face", "reverified", "reverify-rejected", "front-desk")
    assert seen != "id"  # no ID step for a returning guest
    assert wait_for_screen(browser, "reverified", "reverify-rejected", "front-desk") == "reverified"
    assert heading(browser) == "Welcome back, Lin-Manuel!"
    assert "key card" in browser.find_element(By.ID, "detail").text
    assert run.join() == ExitStatus.ACCEPTED
    state = deployment.stay_state(run.reference)
    assert (state.status, state.attempts, state.templates) == ("checked_in", 2, 1)
    assert state.consent == [("accepted", 1), ("accepted", 1)]


def test_a_new_key_card_for_a_booking_not_checked_in_offers_the_check_in(
    deployment: Deployment, guest_run: Any, browser: Any
) -> None:
    run = guest_run()
    browser.get(run.url)
    choose(browser, "choose-new-card")
    assert wait_for_screen(browser, "not-checked-in", "front-desk") == "not-checked-in"
    assert heading(browser) == "This booking is not checked in yet"
    assert deployment.stay_state(run.reference).sessions == {}  # refused before consent or capture
    browser.find_element(By.ID, "choose-checkin").click()
    assert wait_for_screen(browser, "consent") == "consent"
    browser.find_element(By.ID, "front-desk").click()
    assert run.join() == ExitStatus.FRONT_DESK


def test_an_impostor_is_turned_away_kindly_without_a_score(guest_run: Any, browser: Any) -> None:
    run = guest_run(id_photo="alex-lacamoire.png")
    browser.get(run.url)
    choose(browser, "choose-checkin")
    wait_for_screen(browser, "consent")
    browser.find_element(By.ID, "accept").click()
    assert wait_for_screen(browser, "accepted", "rejected", "front-desk") == "rejected"
    assert heading(browser) == "We could not confirm it is you"
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "front desk" in text
    assert not any(ch.isdigit() for ch in text)  # no score, no threshold
    assert run.join() == ExitStatus.REJECTED


def test_front_desk_instead_records_a_refusal_and_ends_the_run(
    deployment: Deployment, guest_run: Any, browser: Any
) -> None:
    run = guest_run()
    browser.get(run.url)
    choose(browser, "choose-checkin")
    wait_for_screen(browser, "consent")
    browser.find_element(By.ID, "front-desk").click()
    assert wait_for_screen(browser, "front-desk") == "front-desk"
    assert heading(browser) == "Please see the front desk"
    assert run.join() == ExitStatus.FRONT_DESK
    assert run.screen.state().get("error") is None
    state = deployment.stay_state(run.reference)
    assert state.sessions == {"consent-refused": 1}
    assert state.consent == [("refused", 1)]
    assert (state.attempts, state.templates, state.status) == (0, 0, "reserved")


def test_consent_timeout_records_a_refusal(deployment: Deployment, guest_run: Any) -> None:
    run = guest_run(consent_timeout_s=10)
    answer_when(run.screen, "choose", "check-in")
    assert run.join() == ExitStatus.FRONT_DESK
    assert run.screen.state()["screen"] == "front-desk"
    state = deployment.stay_state(run.reference)
    assert state.sessions == {"consent-refused": 1}
    assert state.consent == [("refused", 1)]


def test_out_of_order_until_the_camera_appears_then_the_guest_is_served(
    deployment: Deployment, guest_run: Any, browser: Any, testdata: Path, tmp_path: Path
) -> None:
    """A missing camera: out of order (retrying, reported to the service), then the attract screen once it is there."""
    camera = tmp_path / "camera.mp4"
    run = guest_run(source=camera)
    browser.get(run.url)
    assert wait_for_screen(browser, "out-of-order") == "out-of-order"
    assert heading(browser) == "This kiosk is out of order"
    assert "source-unavailable" in browser.find_element(By.ID, "staff-code").text
    assert [v for v in serious_violations(browser)] == []
    with deployment.database().transaction() as session:
        from service.storage.tables import Kiosk

        (kiosk,) = session.query(Kiosk).all()
        assert (kiosk.state, kiosk.last_error) == ("out-of-order", "source-unavailable")
    camera.symlink_to(testdata / CLIP)  # the camera is plugged in
    choose(browser, "choose-checkin")
    assert wait_for_screen(browser, "consent") == "consent"
    with deployment.database().transaction() as session:
        (kiosk,) = session.query(Kiosk).all()
        assert (kiosk.state, kiosk.last_error) == ("ready", "source-unavailable")  # the last error stays for staff
    browser.find_element(By.ID, "front-desk").click()
    assert run.join() == ExitStatus.FRONT_DESK


def test_an_unreachable_service_shows_one_moment_then_out_of_order(guest_run: Any, browser: Any) -> None:
    run = guest_run(service_url=f"http://127.0.0.1:{free_port()}", grace_s=1.0)
    browser.get(run.url)
    assert wait_for_screen(browser, "starting", "out-of-order") in ("starting", "out-of-order")
    assert wait_for_screen(browser, "out-of-order") == "out-of-order"
    assert run.screen.state()["error"] == "service-unreachable"
    assert run.thread.is_alive()  # still retrying, not exiting into a restart loop


def test_checkout_at_the_kiosk_shows_a_receipt_qr_that_verifies_on_a_phone(
    deployment: Deployment, guest_run: Any, browser: Any, tmp_path: Path
) -> None:
    run = guest_run(mode="check-out")
    viewport(browser, "landscape")
    browser.get(run.url)
    assert wait_for_screen(browser, "checkout-confirm") == "checkout-confirm"
    press_by_keyboard(browser, "confirm-checkout")
    assert wait_for_screen(browser, "checked-out") == "checked-out"
    WebDriverWait(browser, 60).until(
        lambda d: d.execute_script("return document.getElementById('receipt-qr').naturalWidth") > 0
    )
    key_id = run.screen.state()["receipt_key_id"]
    assert key_id in browser.find_element(By.ID, "receipt-key").text
    shot(browser, "checked-out-real-en-landscape", tmp_path)
    # What the guest's phone reads off the screen: the QR code as displayed, at the screen's own pixels.
    shown = browser.find_element(By.ID, "receipt-qr").screenshot_as_png
    link = decode_qr(cv2.imdecode(np.frombuffer(shown, np.uint8), cv2.IMREAD_COLOR))
    assert link is not None
    assert link.startswith(f"{deployment.url}/receipt#r1.{key_id}.")
    assert run.join() == ExitStatus.ACCEPTED
    assert deployment.stay_state(run.reference).status == "checked_out"
    browser.get(link)
    WebDriverWait(browser, 60).until(lambda d: body(d, "data-status") != "checking")
    assert body(browser, "data-status") == "valid"


def test_every_screen_in_both_languages_and_two_kiosk_sizes(browser: Any, testdata: Path, tmp_path: Path) -> None:
    """Each screen as the page renders it: axe-core finds nothing serious, targets are 44 px, text is translated."""
    from service.property import DEFAULT_NOTICE

    capture = cv2.VideoCapture(str(testdata / CLIP))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 120)
    ok, frame = capture.read()
    capture.release()
    assert ok
    screen = GuestScreen()
    screen.logo = (LOGO_SVG.encode(), "image/svg+xml")
    screen.receipt_qr_svg = qr_svg("https://checkin.hotel.example/receipt#r1.0123456789abcdef.e30.sig")
    server = serve(create_screen_app(screen), free_port())
    brand = {
        "hotel": "Hotel Lethe",
        "has_logo": True,
        "theme": theme("#8a1538"),
        "receipt_key_id": "94bfa549ce43b54a",
        "mode": "check-in",
    }
    notice = {"version": 1, "text": dict(DEFAULT_NOTICE)}
    screens: list[tuple[str, str, dict[str, Any], bool]] = [
        ("starting", "starting", {}, False),
        ("out-of-order", "out-of-order", {"error": "source-unavailable"}, False),
        ("scan", "scan", {"mode": "check-in"}, True),
        ("scan-checkout", "scan", {"mode": "check-out"}, True),
        ("consent", "consent", {"consent": notice, "options": ["accept"]}, False),
        ("id-camera", "id", {"id_source": "camera", "guidance": "id-no-document"}, True),
        ("id-image", "id", {"id_source": "image"}, False),
        ("face", "face", {"challenge": "none"}, True),
        ("face-challenge", "face", {"challenge": "blink"}, True),
        ("face-guidance", "face", {"challenge": "none", "guidance": "face-too-small"}, True),
        ("face-steady", "face", {"challenge": "none", "guidance": "steady"}, True),
        ("sending", "sending", {}, False),
        ("accepted", "accepted", {"first_name": "Lin-Manuel"}, False),
        ("rejected", "rejected", {}, False),
        ("choose", "choose", {"options": ["check-in", "new-card"]}, False),
        ("not-checked-in", "not-checked-in", {"options": ["check-in"]}, False),
        ("reverified", "reverified", {"first_name": "Lin-Manuel"}, False),
        ("reverify-rejected", "reverify-rejected", {}, False),
        ("front-desk", "front-desk", {"error": None}, False),
        ("checkout-confirm", "checkout-confirm", {"options": ["check-out"], "mode": "check-out"}, False),
        ("checking-out", "checking-out", {"mode": "check-out"}, False),
        ("checked-out", "checked-out", {"mode": "check-out"}, False),
    ]
    problems: list[str] = []
    try:
        for size in SIZES:
            viewport(browser, size)
            browser.get(f"http://127.0.0.1:{server.server_port}/")
            for name, state, details, live in screens:
                screen.step(state, **(brand | {"error": None, "guidance": None} | details))
                if live:
                    screen.show_frame(frame)
                for language in LANGUAGES:
                    _show(browser, state, language, live)
                    problems += [f"{name} {language} {size}: {p}" for p in _check_page(browser)]
                    shot(browser, f"{name}-{language}-{size}", tmp_path)
        # The attract screen's mode switch works from the keyboard and says the other flow.
        screen.step("scan", **(brand | {"mode": "check-in"}))
        screen.show_frame(frame)
        _show(browser, "scan", "en", True)
        press_by_keyboard(browser, "mode")
        WebDriverWait(browser, 60).until(lambda d: heading(d) == "Scan your booking QR code to check out")
        assert screen.mode == "check-out"
        # Text scales: at twice the browser's text size nothing runs off the screen sideways.
        browser.execute_script("document.documentElement.style.fontSize = 'calc(1.5rem + 1.5vmin)'")
        assert browser.execute_script("return document.scrollingElement.scrollWidth <= innerWidth")
    finally:
        screen.close()
        server.shutdown()
    assert problems == []


LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 160 48"><rect width="160" height="48" rx="8" '
    'fill="#8a1538"/><text x="80" y="32" font-size="24" text-anchor="middle" fill="#fff" '
    'font-family="serif">LETHE</text></svg>'
)


def _show(driver: Any, screen: str, language: str, live: bool) -> None:
    if driver.execute_script("return document.documentElement.lang") != language:
        driver.find_element(By.ID, "language").click()
    WebDriverWait(driver, 60, poll_frequency=0.05).until(
        lambda d: (
            body(d, "data-screen") == screen
            and d.execute_script("return document.documentElement.lang") == language
            and heading(d)
            and (not live or d.execute_script("return document.getElementById('preview').naturalWidth > 0"))
        )
    )


def _check_page(driver: Any) -> list[str]:
    found = serious_violations(driver)
    for button in driver.find_elements(By.TAG_NAME, "button"):
        if button.is_displayed() and (button.size["height"] < 44 or button.size["width"] < 44):
            found.append(f"#{button.get_attribute('id')} is smaller than 44 px: {button.size}")
    words = [heading(driver), driver.find_element(By.ID, "detail").text]
    if len({w for w in words if w}) < len([w for w in words if w]):
        found.append(f"the same sentence twice: {words}")
    if driver.execute_script("return document.documentElement.lang") == "zh-Hans":
        text = driver.find_element(By.ID, "copy").text
        english = [w for w in text.split() if w.isascii() and w.isalpha() and len(w) > 3]
        if english:
            found.append(f"English words on the Chinese screen: {english}")
    return found


def test_screen_command_end_to_end(deployment: Deployment, testdata: Path, tmp_path: Path) -> None:
    """``lethe kiosk screen`` as the process a kiosk runs, driven over HTTP as the page would."""
    with screen_command(deployment, testdata, deployment.reservation()["booking_code"], tmp_path) as run:
        run.wait_for("choose")
        run.press("answer/check-in")
        run.wait_for("consent")
        out, err = run.choose("answer/accept")
    assert run.process.returncode == 0, err
    assert "result: accepted" in out


def _requests(driver: Any) -> list[str]:
    """The URLs the page asked the network for since the last call (the browser's performance log)."""
    import json

    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _verdict(driver: Any) -> str:
    # Until the page's script has run, the body may not be the receipt page's yet: wait for a verdict itself.
    verdicts = ("valid", "invalid", "missing", "no-crypto")
    WebDriverWait(driver, 60, poll_frequency=0.05).until(lambda d: body(d, "data-status") in verdicts)
    return body(driver, "data-status")


def test_the_receipt_page_verifies_a_real_checkout_offline_and_refuses_any_change(
    deployment: Deployment, testdata: Path, tmp_path: Path, browser: Any
) -> None:
    from protocol import receipt_fragment

    reservation = deployment.reservation()
    status, answer = deployment.kiosk(
        testdata / CLIP, testdata / MISC / "lin-manuel-miranda.png", reservation["booking_code"]
    )
    assert (status, answer["decision"]) == (0, "accepted")
    receipt = deployment.checkout(reservation["reference"]).json()["receipt"]
    fragment = receipt_fragment(receipt)
    viewport(browser, "portrait")
    browser.get("about:blank")  # from another page: a real load of the receipt page, not a fragment change
    _requests(browser)
    browser.get(f"{deployment.url}/receipt#{fragment}")
    assert _verdict(browser) == "valid"
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "Valid receipt" in text
    assert "1 face template(s) and 1 data key(s)" in text
    assert receipt["claims"]["receipt_id"] in text
    assert receipt["key_id"] in browser.find_element(By.ID, "how").text
    assert serious_violations(browser) == []
    browser.find_element(By.ID, "language").click()
    assert "凭证有效" in browser.find_element(By.TAG_NAME, "main").text
    assert serious_violations(browser) == []
    shot(browser, "receipt-valid-zh-Hans-phone", tmp_path)
    browser.find_element(By.ID, "language").click()
    shot(browser, "receipt-valid-en-phone", tmp_path)

    # One changed character anywhere in the receipt (key id, claims, signature) makes it invalid.
    _, key_id, claims, signature = fragment.split(".")
    flip = {"A": "B", "B": "A"}
    for changed in (
        f"r1.{key_id[:-1]}{'0' if key_id[-1] != '0' else '1'}.{claims}.{signature}",
        f"r1.{key_id}.{claims[:10]}{flip.get(claims[10], 'A')}{claims[11:]}.{signature}",
        f"r1.{key_id}.{claims}.{signature[:-3]}{flip.get(signature[-3], 'A')}{signature[-2:]}",
    ):
        browser.execute_script("location.hash = arguments[0]", changed)
        WebDriverWait(browser, 60).until(lambda d: body(d, "data-status") != "valid")
        assert _verdict(browser) == "invalid", changed
    shot(browser, "receipt-invalid-en-phone", tmp_path)
    requested = _requests(browser)
    # The page itself, once, and without the fragment (the receipt never reaches the server); nothing else, ever.
    assert requested == [f"{deployment.url}/receipt"]

    # Saved with its button's content, the page verifies from a file, with no service at all.
    browser.execute_script("location.hash = arguments[0]", fragment)
    assert _verdict(browser) == "valid"
    saved = tmp_path / "receipt.html"
    saved.write_text(browser.execute_script("return savedCopy()"), encoding="utf-8")
    browser.get(saved.as_uri())
    assert _verdict(browser) == "valid"
    assert [url for url in _requests(browser) if not url.startswith("file:")] == []


def test_the_receipt_page_without_a_receipt_says_so(deployment: Deployment, browser: Any) -> None:
    browser.get("about:blank")
    browser.get(f"{deployment.url}/receipt")
    assert _verdict(browser) == "missing"
    assert "No receipt in this link" in browser.find_element(By.TAG_NAME, "main").text
