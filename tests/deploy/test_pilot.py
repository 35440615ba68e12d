"""The README's "Pilot at one hotel", command by command in the order it gives them.

The commands are read from the README's two shell blocks; each one is matched, in order, to what this test
does for it (as an unprivileged user, in a temporary folder: see the README's paragraph after the blocks).
A command the test does not know, or one missing, fails the test: the README and the test change together.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest
import requests

from lethe.demo import free_port, lethe_command, wait_until_healthy
from tests.helpers import ROOT
from tests.helpers.deployment import service_env
from tests.helpers.proxy import nginx
from tests.helpers.service import PASSWORD, csrf_token

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (dev.py installs it)")

LETHE = "/opt/lethe/.venv/bin/lethe"


def pilot_commands() -> list[str]:
    """The shell commands of the README's "Pilot at one hotel" section, in order (comments dropped)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Pilot at one hotel", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2, "the section has a server block and a kiosk block"
    return [line.split("   #")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


@dataclass
class Pilot:
    """The server as the commands leave it, under ``root`` (a temporary folder standing for /)."""

    root: Path
    data_mirror: Path
    testdata: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    url: str = ""
    ca_file: Path | None = None
    secret: str = ""
    api_key: str = ""
    code: str = ""
    booking: str = ""

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def lethe(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
        done = subprocess.run(
            lethe_command(*args),
            env=env if env is not None else self.operator_env(),
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert done.returncode == 0, f"lethe {' '.join(args)}: {done.stderr}"
        return done.stdout

    def operator_env(self) -> dict[str, str]:
        """As root's shell with sudo -u lethe: no LETHE_* variables; the instance comes from /etc/lethe/lethe.toml."""
        base = service_env(self.root, self.data_mirror)
        env = {k: v for k, v in base.items() if not k.startswith("LETHE_")} | {
            "LETHE_DATA_MIRROR": str(self.data_mirror)
        }
        return env | {"LETHE_CONFIG_FILE": str(self.path("/etc/lethe/lethe.toml"))}


def run_server_command(pilot: Pilot, command: str, stack: contextlib.ExitStack) -> None:
    words = shlex.split(command.replace("$(", "").replace(")", ""))
    if command.startswith("apt-get install"):
        assert {"python3-venv", "nginx"} <= set(words)
        assert shutil.which("nginx"), "nginx is installed"
    elif command.startswith("useradd"):
        assert "lethe" in words  # the test runs as the current user
    elif command.startswith("python3 -m venv") or command.startswith("/opt/lethe/.venv/bin/pip install"):
        assert "[service]" in command or command.endswith("/opt/lethe/.venv")  # tests/lethe/test_install.py
    elif command.startswith("install -d -m 0755 /etc/lethe && printf"):
        pilot.path("/etc/lethe").mkdir(parents=True)
        toml = re.search(r"printf '(.*)\\n'", command)
        assert toml
        pilot.path("/etc/lethe/lethe.toml").write_text(
            toml.group(1).replace('"/var/lib/lethe"', f'"{pilot.path("/var/lib/lethe")}"') + "\n"
        )
    elif command.startswith("install -m 0640 -g lethe deploy/lethe.env"):
        text = (ROOT / "deploy/lethe.env").read_text()
        text = text.replace("LETHE_INSTANCE_PATH=/var/lib/lethe", f"LETHE_INSTANCE_PATH={pilot.path('/var/lib/lethe')}")
        pilot.path("/etc/lethe/lethe.env").write_text(text)  # LETHE_PUBLIC_URL is set once nginx has its port
    elif command.startswith("install -m 0644 deploy/systemd/"):
        units = pilot.path("/etc/systemd/system")
        units.mkdir(parents=True)
        for name in words[3:-1]:
            shutil.copy(ROOT / name, units)
    elif command.startswith("install -m 0644 deploy/nginx/lethe.conf"):
        sites = pilot.path("/etc/nginx/sites-available")
        sites.mkdir(parents=True)
        shutil.copy(ROOT / "deploy/nginx/lethe.conf", sites / "lethe")
    elif command.startswith("ln -s /etc/nginx/sites-available/lethe"):
        assert "nginx -t" in command  # tests/helpers/proxy.py runs nginx -t, then nginx with the site
        proxy = stack.enter_context(nginx(pilot.path("/run/nginx"), pilot.port))
        pilot.url, pilot.ca_file = proxy.url, proxy.ca_file
        env_file = pilot.path("/etc/lethe/lethe.env")
        env_file.write_text(
            env_file.read_text().replace("LETHE_PUBLIC_URL=https://lethe.example.com", f"LETHE_PUBLIC_URL={pilot.url}")
        )
    elif command.startswith("systemctl enable --now lethe.service lethe-purge.timer"):
        unit = pilot.path("/etc/systemd/system/lethe.service").read_text()
        exec_start = shlex.split(re.search(r"^ExecStart=(.*)$", unit, flags=re.M).group(1))  # type: ignore[union-attr]
        assert exec_start[0] == LETHE
        args = [a if a != "8080" else str(pilot.port) for a in exec_start[1:]]
        settings = dict(
            line.split("=", 1)
            for line in pilot.path("/etc/lethe/lethe.env").read_text().splitlines()
            if line and not line.startswith("#")
        )
        pilot.env = pilot.operator_env() | settings
        stack.enter_context(_service(pilot.env, args, f"http://127.0.0.1:{pilot.port}"))
        assert "OnCalendar=hourly" in pilot.path("/etc/systemd/system/lethe-purge.timer").read_text()
        pilot.lethe("purge")  # what the timer starts: lethe-purge.service's ExecStart
    elif command.startswith(f"sudo -u lethe {LETHE} staff create --role admin"):
        out = pilot.lethe("staff", "create", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
        found = re.search(r"TOTP secret \(shown once\): (\S+)", out)
        assert found
        pilot.secret = found.group(1)
    elif command.startswith(f"sudo -u lethe {LETHE} integration create"):
        pilot.api_key = pilot.lethe(*words[4:]).strip()
    elif command.startswith(f"sudo -u lethe {LETHE} device code"):
        pilot.code = pilot.lethe(*words[4:]).split()[0]
    else:
        raise AssertionError(f"the README's pilot has a server command this test does not know: {command}")


def front_desk_and_pms(pilot: Pilot) -> None:
    """The paragraph between the blocks: the panel's sign-in and the PMS's reservation, over HTTPS."""
    browser = requests.Session()
    browser.verify, browser.trust_env = str(pilot.ca_file), False
    page = browser.get(f"{pilot.url}/panel/login", timeout=10)
    signed_in = browser.post(
        f"{pilot.url}/panel/login",
        data={
            "csrf_token": csrf_token(page.text),
            "username": "admin",
            "password": PASSWORD,
            "code": pyotp.TOTP(pilot.secret).now(),
        },
        headers={"Referer": f"{pilot.url}/panel/login"},
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 302, signed_in.text
    today = dt.date.today()
    answer = browser.post(
        f"{pilot.url}/pms/v1/reservations",
        json={
            "guest_name": "Lin-Manuel Miranda",
            "arrival": today.isoformat(),
            "departure": (today + dt.timedelta(days=1)).isoformat(),
        },
        headers={"Authorization": f"Bearer {pilot.api_key}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    pilot.booking = answer.json()["booking_code"]


def run_kiosk_command(pilot: Pilot, command: str) -> None:
    words = shlex.split(command)
    kiosk_env = service_env(pilot.path("/var/lib/lethe-kiosk"), pilot.data_mirror)
    if command.startswith("pip install"):
        assert "[kiosk]" in command  # the suite's environment has every extra
    elif "lethe kiosk register" in command:
        assert words[0] == "LETHE_KIOSK_CA_FILE=/etc/lethe/ca.pem"
        args = [w.replace("https://checkin.hotel.example", pilot.url) for w in words[2:]]
        args[args.index("XXXX-XXXX-XXXX-XXXX")] = pilot.code
        pilot.lethe(*args, env=kiosk_env | {"LETHE_KIOSK_CA_FILE": str(pilot.ca_file)})
    elif "lethe kiosk --consent-accepted" in command:
        assert words[0] == "LETHE_KIOSK_CA_FILE=/etc/lethe/ca.pem"
        assert "--id-from-camera" in words
        assert "/dev/video0" in words
        assert "passive only (demo)" in pilot.lethe("property", "liveness", "--demo-passive-only")
        args = [*words[2 : words.index("--source")], "--json"]
        args += ["--source", str(pilot.testdata / "video/short_hamilton_clip.mp4")]
        args += ["--id-image", str(pilot.testdata / "faces/face_recognition/misc/lin-manuel-miranda.png")]
        args += ["--booking", pilot.booking]
        out = pilot.lethe(*args, env=kiosk_env | {"LETHE_KIOSK_CA_FILE": str(pilot.ca_file)})
        assert '"decision": "accepted"' in out
    else:
        raise AssertionError(f"the README's pilot has a kiosk command this test does not know: {command}")


@contextlib.contextmanager
def _service(env: dict[str, str], args: list[str], url: str) -> Iterator[None]:
    """``lethe serve`` as the unit starts it; checks what it prints at start."""
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(lethe_command(*args), env=env, stdout=log, stderr=log)
        try:
            wait_until_healthy(process, url, log)
            log.seek(0)
            banner = log.read()
            assert "no admin yet: run lethe staff create" in banner
            assert f"instance folder {env['LETHE_INSTANCE_PATH']}" in banner
            yield
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_the_readme_pilot_from_a_bare_server_to_the_first_guest(
    tmp_path: Path, data_mirror: Path, testdata: Path
) -> None:
    commands = pilot_commands()
    kiosk_start = next(i for i, c in enumerate(commands) if c.startswith("pip install"))
    pilot = Pilot(tmp_path / "root", data_mirror, testdata)
    with contextlib.ExitStack() as stack:
        for command in commands[:kiosk_start]:
            run_server_command(pilot, command, stack)
        front_desk_and_pms(pilot)
        for command in commands[kiosk_start:]:
            run_kiosk_command(pilot, command)
