"""Headless Chromium for the browser tests (Debian's ``chromium`` and ``chromium-driver``, through Selenium)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

WINDOW = (1366, 768)


@contextlib.contextmanager
def chromium() -> Iterator[WebDriver]:
    """A headless Chromium (English, the console and network logs kept), quit when the block ends."""
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver_path):
        pytest.fail("Debian chromium and chromium-driver are needed: run `python3 dev.py setup` as root", pytrace=False)
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium fetch a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--lang=en-GB"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.implicitly_wait(0)
    driver.set_script_timeout(60)  # axe-core on a loaded machine
    try:
        yield driver
    finally:
        driver.quit()
