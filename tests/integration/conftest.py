"""A real service process on a loopback port and the real ``lethe`` commands, on recorded media."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from lethe.demo import free_port, lethe_command, running_service


@dataclass
class Deployment:
    url: str
    env: dict[str, str]
    instance: Path
    api_key: str

    def lethe(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            lethe_command(*args), env=self.env, capture_output=True, text=True, check=check, timeout=300
        )

    def reservation(self, guest: str = "Lin-Manuel Miranda") -> dict[str, Any]:
        today = dt.date.today()
        answer = requests.post(
            f"{self.url}/pms/v1/reservations",
            json={
                "guest_name": guest,
                "arrival": today.isoformat(),
                "departure": (today + dt.timedelta(days=1)).isoformat(),
            },
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=10,
        )
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def kiosk(self, source: Path, id_image: Path, booking: str) -> tuple[int, dict[str, Any]]:
        done = self.lethe(
            "kiosk", "--source", str(source), "--id-image", str(id_image), "--booking", booking, "--json", check=False
        )
        lines = done.stdout.strip().splitlines()
        assert lines, done.stderr
        return done.returncode, json.loads(lines[-1])


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, data_mirror: Path) -> Iterator[Deployment]:
    instance = tmp_path_factory.mktemp("instance")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LETHE_")}
    env |= {
        "LETHE_INSTANCE_PATH": str(instance),
        "LETHE_DATA_MIRROR": str(data_mirror),
        "LETHE_KIOSK_KEY_FILE": str(instance / "kiosk" / "kiosk.json"),
    }
    with running_service(env, free_port()) as url:
        env["LETHE_KIOSK_SERVICE_URL"] = url
        probe = Deployment(url, env, instance, "")
        api_key = probe.lethe("integration", "create", "test-pms").stdout.strip()
        code = probe.lethe("device", "code", "--name", "Lobby 1").stdout.split()[0]
        probe.lethe("kiosk", "register", "--service", url, "--code", code)
        yield Deployment(url, env, instance, api_key)
