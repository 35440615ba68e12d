"""The guest's screen in real headless Chromium (Debian ``chromium`` + ``chromium-driver``), recorded video as camera.

Screenshots go to ``$KIOSK_SCREENSHOT_DIR`` when it is set (``docs/screens`` holds the committed ones).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from edge.screen import GuestScreen, create_screen_app, run_guest, serve
from edge.settings import KioskSettings
from lethe.booking import render_qr
from lethe.demo import free_port
from tests.helpers.deployment import Deployment, screen_command

MISC = "faces/face_recognition/misc"
SCREEN = (1280, 900)  # the size of the committed screenshots (docs/screens)


def shot(driver, name: str, tmp_path: Path) -> None:
    driver.set_window_size(*SCREEN)
    folder = Path(os.environ.get("KIOSK_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(folder / f"{name}.png"))


def wait_for_screen(driver, *names: str, timeout: float = 60.0) -> str:
    WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-screen") in names
    )
    return driver.find_element(By.TAG_NAME, "body").get_attribute("data-screen")


def start(
    deployment: Deployment,
    testdata: Path,
    tmp_path: Path,
    *,
    service_url: str | None = None,
    consent_timeout_s: float = 60,
):
    reservation = deployment.reservation()
    booking = reservation["booking_code"]
    qr = tmp_path / "booking.png"
    qr.write_bytes(render_qr(booking, "png"))
    settings = KioskSettings(
        service_url=service_url or deployment.url,
        key_file=deployment.instance / "kiosk" / "kiosk.json",
        http_timeout_s=3.0,
    )
    guest = GuestScreen(consent_timeout_s=consent_timeout_s)
    server = serve(create_screen_app(guest), free_port())
    run = threading.Thread(
        target=run_guest,
        args=(guest, settings),
        kwargs={
            "source": str(testdata / "video/short_hamilton_clip.mp4"),
            "id_image": testdata / MISC / "lin-manuel-miranda.png",
            "booking_source": str(qr),
            "realtime": True,
        },
        daemon=True,
    )
    run.start()
    return guest, server, run, f"http://127.0.0.1:{server.server_port}/", reservation["reference"]


def test_guest_walks_the_screens_to_checked_in(deployment: Deployment, testdata: Path, tmp_path: Path, browser) -> None:
    guest, server, run, url, reference = start(deployment, testdata, tmp_path)
    try:
        browser.get(url)
        assert wait_for_screen(browser, "consent") == "consent"
        notice = browser.find_element(By.ID, "notice")
        assert "front desk" in notice.text
        assert browser.find_element(By.ID, "front-desk").is_displayed()
        shot(browser, "consent-en", tmp_path)
        browser.find_element(By.ID, "language").click()
        assert "前台" in browser.find_element(By.ID, "notice").text
        assert browser.find_element(By.ID, "front-desk").text == "改到前台办理入住"
        shot(browser, "consent-zh-Hans", tmp_path)
        browser.find_element(By.ID, "language").click()
        browser.find_element(By.ID, "accept").click()
        assert wait_for_screen(browser, "id", "face", "sending", "accepted", "rejected") != "front-desk"
        if wait_for_screen(browser, "face", "sending", "accepted") == "face":
            WebDriverWait(browser, 15, poll_frequency=0.1).until(
                lambda d: (
                    d.find_element(By.ID, "guidance").text
                    or d.find_element(By.TAG_NAME, "body").get_attribute("data-screen") != "face"
                )
            )
            shot(browser, "face-en", tmp_path)
        assert wait_for_screen(browser, "accepted", "rejected", "front-desk") == "accepted"
        assert "checked in" in browser.find_element(By.ID, "message").text
        assert not browser.find_element(By.ID, "front-desk").is_displayed()
        shot(browser, "accepted-en", tmp_path)
        run.join(30)
        assert guest.preview_jpeg() is None  # the preview is dropped when the run ends
        # The service recorded the acceptance before the face was verified.
        state = deployment.stay_state(reference)
        assert state.sessions == {"used": 1}
        assert state.consent == [("accepted", 1)]
    finally:
        server.shutdown()


def test_front_desk_instead_records_a_refusal_and_ends_the_run(
    deployment: Deployment, testdata: Path, tmp_path: Path, browser
) -> None:
    guest, server, run, url, reference = start(deployment, testdata, tmp_path)
    try:
        browser.get(url)
        wait_for_screen(browser, "consent")
        browser.find_element(By.ID, "front-desk").click()
        assert wait_for_screen(browser, "front-desk", timeout=10) == "front-desk"
        assert "front desk" in browser.find_element(By.ID, "message").text
        run.join(10)
        assert not run.is_alive()
        assert guest.state()["screen"] == "front-desk"
        assert guest.state().get("error") is None
    finally:
        server.shutdown()
    # The refusal is recorded at the service and closed the session; nothing was compared or kept.
    state = deployment.stay_state(reference)
    assert state.sessions == {"consent-refused": 1}
    assert state.consent == [("refused", 1)]
    assert (state.attempts, state.templates, state.status) == (0, 0, "reserved")


def test_consent_timeout_records_a_refusal(deployment: Deployment, testdata: Path, tmp_path: Path, browser) -> None:
    _, server, run, url, reference = start(deployment, testdata, tmp_path, consent_timeout_s=2)
    try:
        browser.get(url)
        assert wait_for_screen(browser, "consent", "front-desk") in ("consent", "front-desk")
        assert wait_for_screen(browser, "front-desk", timeout=20) == "front-desk"
        run.join(10)
        assert not run.is_alive()
    finally:
        server.shutdown()
    state = deployment.stay_state(reference)
    assert state.sessions == {"consent-refused": 1}
    assert state.consent == [("refused", 1)]


def test_unreachable_service_sends_the_guest_to_the_front_desk(
    deployment: Deployment, testdata: Path, tmp_path: Path, browser
) -> None:
    guest, server, _, url, _ = start(deployment, testdata, tmp_path, service_url=f"http://127.0.0.1:{free_port()}")
    try:
        browser.get(url)
        assert wait_for_screen(browser, "front-desk", timeout=20) == "front-desk"
        assert guest.state().get("error") == "service-unreachable"
        shot(browser, "front-desk-en", tmp_path)
    finally:
        server.shutdown()


def test_screen_command_end_to_end(deployment: Deployment, testdata: Path, tmp_path: Path) -> None:
    """``lethe kiosk screen`` as the process a kiosk runs, driven over HTTP as the page would."""
    with screen_command(deployment, testdata, deployment.reservation()["booking_code"], tmp_path) as run:
        run.wait_for("consent")
        out, err = run.choose("consent")
    assert run.process.returncode == 0, err
    assert "result: accepted" in out
