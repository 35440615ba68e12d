"""The deployment as shipped: ``lethe serve`` behind the repository's nginx configuration, over HTTPS with a
certificate from a throw-away CA; the panel's sign-in and a headless kiosk check-in go through it."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pyotp
import pytest
import requests

from lethe.demo import free_port, lethe_command, running_service
from tests.helpers.deployment import service_env
from tests.helpers.proxy import nginx
from tests.helpers.service import PASSWORD, csrf_token

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (dev.py installs it)")


def lethe(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        lethe_command(*args), env=env, input=stdin, capture_output=True, text=True, check=False, timeout=300
    )


def test_panel_sign_in_and_kiosk_check_in_over_https(tmp_path: Path, data_mirror: Path, testdata: Path) -> None:
    instance = tmp_path / "instance"
    env = service_env(instance, data_mirror)
    port = free_port()
    with nginx(tmp_path / "nginx", port) as proxy:
        env |= {"LETHE_PROXY_HOPS": "1", "LETHE_PUBLIC_URL": proxy.url}
        with running_service(env, port):
            # Plain HTTP is only a redirect to HTTPS.
            redirect = requests.get(f"{proxy.http_url}/panel/login", allow_redirects=False, timeout=10)
            assert redirect.status_code == 301
            assert redirect.headers["Location"].startswith("https://")

            # The panel: the first admin from the command line, then the sign-in form over HTTPS.
            created = lethe(env, "staff", "create", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
            assert created.returncode == 0, created.stderr
            secret = re.search(r"TOTP secret \(shown once\): (\S+)", created.stdout)
            assert secret
            browser = requests.Session()
            browser.verify = str(proxy.ca_file)
            browser.trust_env = False  # else REQUESTS_CA_BUNDLE would win over verify
            page = browser.get(f"{proxy.url}/panel/login", timeout=10)
            assert page.status_code == 200
            assert "max-age=" in page.headers["Strict-Transport-Security"]
            signed_in = browser.post(
                f"{proxy.url}/panel/login",
                data={
                    "csrf_token": csrf_token(page.text),
                    "username": "admin",
                    "password": PASSWORD,
                    "code": pyotp.TOTP(secret.group(1)).now(),
                },
                headers={"Referer": f"{proxy.url}/panel/login"},  # as a browser sends it; CSRF checks it on HTTPS
                allow_redirects=False,
                timeout=10,
            )
            assert signed_in.status_code == 302, signed_in.text
            assert list(browser.cookies)
            assert all(cookie.secure for cookie in browser.cookies)
            assert browser.get(f"{proxy.url}/panel/", timeout=10).status_code == 200

            # The kiosk: registered over HTTPS, trusting the property's CA only through LETHE_KIOSK_CA_FILE.
            api_key = lethe(env, "integration", "create", "pms").stdout.strip()
            code = lethe(env, "device", "code", "--name", "Lobby 1").stdout.split()[0]
            untrusting = lethe(env, "kiosk", "register", "--service", proxy.url, "--code", code)
            assert untrusting.returncode != 0
            assert "LETHE_KIOSK_CA_FILE" in untrusting.stderr + untrusting.stdout
            env |= {"LETHE_KIOSK_CA_FILE": str(proxy.ca_file), "LETHE_KIOSK_SERVICE_URL": proxy.url}
            registered = lethe(env, "kiosk", "register", "--service", proxy.url, "--code", code)
            assert registered.returncode == 0, registered.stderr
            assert "passive only (demo)" in lethe(env, "property", "liveness", "--demo-passive-only").stdout

            today = dt.date.today()
            reservation = browser.post(
                f"{proxy.url}/pms/v1/reservations",
                json={
                    "guest_name": "Lin-Manuel Miranda",
                    "arrival": today.isoformat(),
                    "departure": (today + dt.timedelta(days=1)).isoformat(),
                },
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=10,
            )
            assert reservation.status_code == 201, reservation.text
            run = lethe(
                env,
                "kiosk",
                "--consent-accepted",
                "--json",
                "--source",
                str(testdata / "video/short_hamilton_clip.mp4"),
                "--id-image",
                str(testdata / "faces/face_recognition/misc/lin-manuel-miranda.png"),
                "--booking",
                reservation.json()["booking_code"],
            )
            assert run.returncode == 0, run.stderr
            assert '"decision": "accepted"' in run.stdout
