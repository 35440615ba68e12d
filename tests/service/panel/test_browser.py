"""The panel in real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by Selenium).

The session's service process on loopback, staff made with the real ``lethe staff create``, and
check-ins made by the real ``lethe kiosk`` command on the recorded Hamilton clip. With
``LETHE_TEST_PANEL_SCREENSHOTS=<folder>`` the test also saves a screenshot of each page there
(``docs/panel`` holds the committed ones).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pyotp
import pytest
import requests
from selenium.common.exceptions import JavascriptException, NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from service.panel.scores import score_and_threshold
from tests.helpers.deployment import Deployment, screen_command

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
MISC = "faces/face_recognition/misc"
PASSWORD = "front desk password 1"
DESKTOP = (1366, 768)
TABLET = (820, 1180)
TALL = (1366, 1600)  # the stay page with its action forms


def staff_account(deployment: Deployment, username: str, role: str, *extra: str) -> str | None:
    """Create an account with the real command; return its TOTP secret (printed once), if any."""
    done = subprocess.run(
        [*_lethe(), "staff", "create", "--username", username, "--role", role, "--password-stdin", *extra],
        input=PASSWORD + "\n",
        env=deployment.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    found = re.search(r"TOTP secret \(shown once\): ([A-Z2-7]+)", done.stdout)
    return found.group(1) if found else None


def _lethe() -> list[str]:
    from lethe.demo import lethe_command

    return lethe_command()


class Panel:
    def __init__(self, driver: WebDriver, url: str) -> None:
        self.driver = driver
        self.url = url
        self.signed_in: str | None = None
        self.used_codes: set[str] = set()
        self.shots = (
            Path(os.environ["LETHE_TEST_PANEL_SCREENSHOTS"]) if os.environ.get("LETHE_TEST_PANEL_SCREENSHOTS") else None
        )

    def go(self, path: str) -> None:
        self.driver.get(self.url + path)
        self.wait_for(lambda: self.driver.execute_script("return document.readyState") == "complete")

    def open_stay(self, reference: str) -> None:
        """Follow the stay's link on the board (which a refresh may swap under it) to the stay's page."""

        def attempt() -> bool:
            try:
                self.driver.find_element(By.CSS_SELECTOR, f'#board tr[data-stay="{reference}"] a').click()
            except (StaleElementReferenceException, NoSuchElementException):
                return False
            return True

        self.wait_for(attempt, timeout=10)
        self.wait_for(lambda: "/panel/stays/" in self.driver.current_url)
        self.wait_for(lambda: self.driver.execute_script("return document.readyState") == "complete")

    def type_into(self, element_id: str, text: str) -> None:
        """Type into a field, finding it again if the page replaced it meanwhile."""

        def attempt() -> bool:
            try:
                self.driver.find_element(By.ID, element_id).send_keys(text)
            except (StaleElementReferenceException, NoSuchElementException):
                return False
            return True

        self.wait_for(attempt, timeout=10)

    def text(self) -> str:
        # One script call and no element handle: a page that navigated away between finding <body> and reading
        # its text made chromedriver fail ("Node with given id does not belong to the document").
        return str(self.driver.execute_script("return document.body ? document.body.innerText : '';"))

    def wait_for(self, predicate: Any, timeout: float = 30) -> Any:
        ignored = (StaleElementReferenceException, NoSuchElementException, JavascriptException)
        wait = WebDriverWait(self.driver, timeout, poll_frequency=0.25, ignored_exceptions=ignored)
        return wait.until(lambda _d: predicate())

    def login(self, username: str, secret: str | None) -> None:
        """Sign in through the form, unless this browser is already signed in as ``username``."""
        self.go("/panel/today")
        if "/panel/login" not in self.driver.current_url:
            if self.signed_in == username:
                return
            self.driver.delete_all_cookies()
            self.go("/panel/today")
        self.type_into("username", username)
        self.type_into("password", PASSWORD)
        if secret:
            self.type_into("code", self.fresh_code(secret))
        self.driver.find_element(By.CSS_SELECTOR, "form button.primary").click()
        self.wait_for(lambda: self.driver.current_url.endswith("/panel/today"))
        self.signed_in = username

    def fresh_code(self, secret: str) -> str:
        """A TOTP code not used before (the service accepts each code once), waiting for the next one if needed."""
        totp = pyotp.TOTP(secret)
        while (code := totp.now()) in self.used_codes:
            time.sleep(0.5)
        self.used_codes.add(code)
        return code

    def shot(self, name: str, size: tuple[int, int] = DESKTOP) -> None:
        if self.shots is None:
            return
        from PIL import Image

        self.shots.mkdir(parents=True, exist_ok=True)
        self.driver.set_window_size(*size)
        target = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(target))
        # Keep the committed images small: 64 colours are plenty for a form-and-table UI.
        Image.open(target).convert("RGB").quantize(64).save(target, optimize=True)
        self.driver.set_window_size(*DESKTOP)

    def row(self, reference: str) -> str:
        rows = self.driver.find_elements(By.CSS_SELECTOR, f'#board tr[data-stay="{reference}"]')
        return str(rows[0].text) if rows else ""


@pytest.fixture(scope="module")
def panel(browser: WebDriver, deployment: Deployment) -> Panel:
    """The session's browser on the session's service, as http://localhost (a secure context: the Secure cookie)."""
    browser.set_window_size(*DESKTOP)
    browser.get("about:blank")  # leave whatever page an earlier test left open (the guest screen polls its server)
    browser.get_log("browser")  # and what it logged is not the panel's
    return Panel(browser, deployment.url.replace("127.0.0.1", "localhost"))


@pytest.fixture(scope="module")
def admin_secret(deployment: Deployment) -> str:
    secret = staff_account(deployment, "ada", "admin", "--name", "Ada Admin")
    assert secret is not None
    return secret


@pytest.fixture(scope="module")
def arrival(deployment: Deployment) -> dict[str, Any]:
    """Today's guest whom the live-board test checks in at the kiosk and the checkout test checks out."""
    return deployment.reservation("Lin-Manuel Miranda")


def run_kiosk(deployment: Deployment, testdata: Path, portrait: str, booking: str) -> dict[str, Any]:
    status, answer = deployment.kiosk(testdata / "video/short_hamilton_clip.mp4", testdata / MISC / portrait, booking)
    return answer | {"exit": status}


def test_login_with_totp_and_security_headers(panel: Panel, deployment: Deployment, admin_secret: str) -> None:
    panel.driver.delete_all_cookies()
    panel.signed_in = None
    panel.go("/panel/login")
    panel.shot("login")
    panel.type_into("username", "ada")
    panel.type_into("password", PASSWORD)
    panel.driver.find_element(By.CSS_SELECTOR, "form button.primary").click()
    panel.wait_for(lambda: "Sign-in failed" in panel.text())
    panel.login("ada", admin_secret)
    assert "Ada Admin" in panel.text()
    cookie = panel.driver.get_cookie("lethe_panel")
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["secure"] is True
    assert cookie["sameSite"] == "Strict"
    headers = requests.get(deployment.url + "/panel/login", timeout=10).headers
    assert "unsafe-inline" not in headers["Content-Security-Policy"]


def test_kiosk_checkin_appears_live_on_today(
    panel: Panel, deployment: Deployment, admin_secret: str, arrival: dict[str, Any], testdata: Path
) -> None:
    panel.login("ada", admin_secret)
    reservation = arrival
    reference = reservation["reference"]
    panel.go("/panel/today")
    assert "not started" in panel.row(reference)
    panel.driver.execute_script("window.__still_the_same_page = true;")
    outcome: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: outcome.update(
            run_kiosk(deployment, testdata, "lin-manuel-miranda.png", reservation["booking_code"])
        )
    )
    worker.start()
    panel.wait_for(lambda: "accepted" in panel.row(reference), timeout=240)
    worker.join(timeout=240)
    assert outcome["decision"] == "accepted", outcome
    # The board refreshed itself: the page was never reloaded.
    assert panel.driver.execute_script("return window.__still_the_same_page === true;")
    panel.shot("today")
    panel.shot("today-tablet", TABLET)


def test_rejection_is_overridden_on_the_stay_page(
    panel: Panel, deployment: Deployment, admin_secret: str, testdata: Path
) -> None:
    panel.login("ada", admin_secret)
    reservation = deployment.reservation("Guest Impostor Test")
    outcome = run_kiosk(deployment, testdata, "alex-lacamoire.png", reservation["booking_code"])
    assert outcome["decision"] == "rejected", outcome
    panel.go("/panel/today")
    panel.wait_for(lambda: "rejected" in panel.row(reservation["reference"]))
    assert "no match" in panel.row(reservation["reference"])
    panel.open_stay(reservation["reference"])
    attempts = panel.driver.find_elements(By.CSS_SELECTOR, "tr.attempt")
    assert len(attempts) == 1
    cells = attempts[0].text
    assert "rejected" in cells
    shown_score, shown_threshold = score_and_threshold(outcome["score"], outcome["threshold"])
    assert f"{shown_score} {shown_threshold}" in cells
    panel.shot("stay-rejected", TALL)
    # Override the rejection: a person checked the guest's ID at the desk.
    panel.driver.find_element(By.XPATH, "//button[contains(., 'Check in by override')]").click()
    assert "/override" not in panel.driver.current_url  # the browser refuses an empty required reason
    panel.type_into("reason-override", "Passport checked at the desk")
    panel.driver.find_element(By.XPATH, "//button[contains(., 'Check in by override')]").click()
    panel.wait_for(lambda: "Checked in by staff override." in panel.text())
    assert "overridden" in panel.driver.find_element(By.CSS_SELECTOR, "h1 + p .state").text
    assert "staff override" in panel.driver.find_elements(By.CSS_SELECTOR, "tr.attempt")[-1].text
    panel.go("/panel/today")
    panel.wait_for(lambda: "overridden" in panel.row(reservation["reference"]))


def test_checkout_shows_a_receipt_that_verifies(
    panel: Panel, deployment: Deployment, admin_secret: str, arrival: dict[str, Any], testdata: Path, tmp_path: Path
) -> None:
    panel.login("ada", admin_secret)
    panel.go("/panel/today")
    if "accepted" not in panel.row(arrival["reference"]):  # run alone: check the guest in first
        outcome = run_kiosk(deployment, testdata, "lin-manuel-miranda.png", arrival["booking_code"])
        assert outcome["decision"] == "accepted", outcome
        panel.go("/panel/today")
    panel.open_stay(arrival["reference"])
    # The consent record: the kiosk command recorded the guest's acceptance of notice version 1.
    (answer,) = panel.driver.find_elements(By.CSS_SELECTOR, "#consent-record tr.consent")
    assert "Lobby 1" in answer.text
    assert answer.text.endswith("1 accepted")
    panel.shot("stay", TALL)
    panel.driver.find_element(By.XPATH, "//button[contains(., 'Check out')]").click()
    panel.wait_for(lambda: "cannot be undone" in panel.text())  # the confirmation page, served without script
    panel.shot("confirm-checkout")
    panel.driver.find_element(By.XPATH, "//button[contains(., 'Check out and delete face data')]").click()
    panel.wait_for(lambda: "Deletion receipt" in panel.text())
    assert panel.driver.find_element(By.ID, "templates-deleted").text == "1"
    assert panel.driver.find_elements(By.CSS_SELECTOR, "figure.qr svg")
    panel.shot("receipt")
    document = json.loads(panel.driver.find_element(By.ID, "receipt-json").get_attribute("textContent"))
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(document))
    pem = tmp_path / "receipt.pem"
    pem.write_text(requests.get(f"{deployment.url}/api/v1/keys", timeout=10).json()["receipt"][0]["public_key_pem"])
    verified = deployment.lethe("receipt", "verify", str(receipt), "--public-key", str(pem))
    assert "VALID" in verified.stdout
    assert "1 template(s) and 1 data key(s) deleted" in verified.stdout


def test_refusal_on_the_guest_screen_and_erasure_show_on_today(
    panel: Panel, deployment: Deployment, admin_secret: str, testdata: Path, tmp_path: Path
) -> None:
    """A guest chooses the front desk on the real kiosk screen; staff see it live, then erase the stay."""
    panel.login("ada", admin_secret)
    reservation = deployment.reservation("Refusing Guest")
    reference = reservation["reference"]
    panel.go("/panel/today")
    assert "not started" in panel.row(reference)
    with screen_command(deployment, testdata, reservation["booking_code"], tmp_path) as run:
        run.wait_for("choose")
        run.press("answer/check-in")
        run.wait_for("consent")
        out, err = run.choose("front-desk")
    assert run.process.returncode == 5, err  # the guest chose the front desk
    assert "result: front-desk" in out
    panel.wait_for(lambda: "consent refused" in panel.row(reference))
    panel.open_stay(reference)
    (answer,) = panel.driver.find_elements(By.CSS_SELECTOR, "#consent-record tr.consent")
    assert "Lobby 1" in answer.text
    assert answer.text.endswith("1 refused")
    assert not panel.driver.find_elements(By.CSS_SELECTOR, "tr.attempt")
    # Erase the stay (the admin is at least a manager): it leaves Today's lists for "Deleted today".
    panel.type_into("reason-erase", "Guest asked to be forgotten")
    panel.driver.find_element(By.ID, "confirm-erase").click()
    panel.driver.find_element(By.XPATH, "//button[contains(., 'Erase the stay')]").click()
    panel.wait_for(lambda: "Stay erased" in panel.text())
    panel.go("/panel/today")
    assert panel.row(reference) == ""
    deleted = panel.driver.find_element(By.ID, "h-Deleted-today").find_element(By.XPATH, "..").text
    assert "Erased stay" in deleted
    assert "Refusing Guest" not in deleted
    assert "erased" in deleted
    panel.shot("today-deleted", TALL)


def test_manager_pages(panel: Panel, admin_secret: str) -> None:
    panel.login("ada", admin_secret)
    for path, name, heading in (
        ("/panel/kiosks", "kiosks", "Lobby 1"),
        ("/panel/audit", "audit", "checkin.verify"),
        ("/panel/settings", "settings", "Consent notice"),
        ("/panel/staff", "staff", "ada"),
    ):
        panel.go(path)
        assert heading in panel.text(), path
        panel.shot(name)
    panel.go("/panel/audit")
    panel.driver.find_element(By.XPATH, "//button[contains(., 'Verify the whole chain')]").click()
    panel.wait_for(lambda: "The chain is intact" in panel.driver.find_element(By.ID, "chain-report").text)


def test_chinese(panel: Panel, admin_secret: str) -> None:
    from selenium.webdriver.support.ui import Select

    panel.login("ada", admin_secret)
    panel.go("/panel/today")
    Select(panel.driver.find_element(By.ID, "language-choice")).select_by_value("zh-Hans")
    panel.driver.find_element(By.XPATH, "//button[contains(., 'Change')]").click()
    panel.wait_for(lambda: "今日抵达" in panel.text())
    assert panel.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-Hans"
    panel.shot("today-zh")
    Select(panel.driver.find_element(By.ID, "language-choice")).select_by_value("en")
    panel.driver.find_element(By.XPATH, "//button[contains(., '切换')]").click()
    panel.wait_for(lambda: "Arrivals" in panel.text())


def test_keyboard_reaches_the_login_form(panel: Panel) -> None:
    panel.driver.delete_all_cookies()
    panel.signed_in = None
    panel.go("/panel/login")
    body = panel.driver.find_element(By.TAG_NAME, "body")
    focused = []
    for _ in range(8):
        body = panel.driver.switch_to.active_element
        body.send_keys("\ue004")  # Tab
        focused.append(panel.driver.switch_to.active_element.get_attribute("id"))
    assert {"username", "password", "code"} <= set(focused)


def test_front_desk_is_refused_on_an_admin_page(panel: Panel, deployment: Deployment) -> None:
    assert staff_account(deployment, "fd", "front_desk", "--no-totp") is None
    panel.login("fd", None)
    assert "Staff" not in [a.text for a in panel.driver.find_elements(By.CSS_SELECTOR, "nav a")]
    panel.go("/panel/staff")
    assert "You do not have access to this page" in panel.text()
    panel.shot("forbidden")
    answer = requests.get(deployment.url + "/panel/staff", timeout=10, allow_redirects=False)
    assert answer.status_code == 302


SHOT_WIDTHS = (1280, 768)
SHOT_HEIGHT = 900


def every_width(panel: Panel, name: str, language: str) -> None:
    """At each width the page fits (nothing scrolls sideways); with screenshots asked for, a full-height shot."""
    if panel.shots is not None:
        (panel.shots / "pages").mkdir(parents=True, exist_ok=True)
    for width in SHOT_WIDTHS:
        panel.driver.set_window_size(width, SHOT_HEIGHT)
        sideways = panel.driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert sideways <= 0, f"{name} ({language}) scrolls sideways by {sideways} px at {width} px"
        height = panel.driver.execute_script("return document.documentElement.scrollHeight")
        panel.shot(f"pages/{name}.{language}.{width}", (width, min(max(height, SHOT_HEIGHT), 4000)))
    panel.driver.set_window_size(*DESKTOP)


def test_every_page_fits_at_1280_and_768_in_both_languages(
    panel: Panel, deployment: Deployment, admin_secret: str, arrival: dict[str, Any]
) -> None:
    """Every page in English and Chinese at a laptop's and a tablet's width: no column lost, no sideways scroll.

    With ``LETHE_TEST_PANEL_SCREENSHOTS=docs/panel`` this makes the screenshots in ``docs/panel/pages``.
    """
    from selenium.webdriver.support.ui import Select

    def choose(language: str) -> None:
        Select(panel.driver.find_element(By.ID, "language-choice")).select_by_value(language)
        panel.driver.find_element(By.CSS_SELECTOR, "form.inline button[type=submit]").click()
        panel.wait_for(lambda: panel.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language)

    def click(xpath: str, then_id: str) -> None:
        panel.driver.find_element(By.XPATH, xpath).click()
        panel.wait_for(lambda: panel.driver.find_elements(By.ID, then_id))

    buttons = {
        "en": {"cancel": "Cancel the reservation", "out": "Check out"},
        "zh-Hans": {"cancel": "取消预订", "out": "退房"},
    }
    for language, words in buttons.items():
        panel.driver.delete_all_cookies()
        panel.signed_in = None
        panel.go("/panel/login")
        choose(language)
        every_width(panel, "login", language)
        panel.login("ada", admin_secret)
        choose(language)
        staying = deployment.reservation("Mei Lin" if language == "en" else "林美")["reference"]
        deployment.lethe("stay", "override", staying, "--reason", "passport checked at the desk")
        arriving = deployment.reservation("Sam Okafor" if language == "en" else "王芳")["reference"]
        for path, name in (
            ("/panel/today", "today"),
            ("/panel/kiosks", "kiosks"),
            ("/panel/audit", "audit"),
            ("/panel/settings", "settings"),
            ("/panel/staff", "staff"),
            ("/panel/no-such-page", "not-found"),
        ):
            panel.go(path)
            every_width(panel, name, language)
        panel.go("/panel/today")
        panel.open_stay(arrival["reference"])
        every_width(panel, "stay-attempts", language)
        panel.go("/panel/today")
        panel.open_stay(arriving)
        every_width(panel, "stay-arriving", language)
        click(f"//button[contains(., '{words['cancel']}')]", "form-confirm")
        every_width(panel, "confirm-cancel", language)
        panel.go("/panel/today")
        panel.open_stay(staying)
        every_width(panel, "stay-in-house", language)
        click(f"//button[contains(., '{words['out']}')]", "form-confirm")
        every_width(panel, "confirm-checkout", language)
        click("//form[@id='form-confirm']//button", "receipt-json")
        every_width(panel, "receipt", language)
        click("//a[@id='back-to-stay']", "receipt-again")
        every_width(panel, "stay-checked-out", language)
    choose("en")


def test_no_console_errors_or_csp_violations(panel: Panel) -> None:
    """Every page the tests above opened ran under the strict CSP without a violation or a script error."""
    problems = [e["message"] for e in panel.driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    # A refused sign-in, the 403 and 404 pages are logged by Chromium as failed resource loads: those are expected.
    unexpected = [m for m in problems if not any(f"status of {s}" in m for s in (401, 403, 404))]
    assert unexpected == []
