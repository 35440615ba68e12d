"""The server's deployment files in deploy/: the environment file names every setting, the units verify."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from service.settings import PREFIX, SERVER_VALUES, Settings
from tests.helpers import ROOT

DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").iterdir())


def test_the_environment_file_is_the_generated_one() -> None:
    assert (DEPLOY / "lethe.env").read_text() == Settings.environment_file(), (
        "deploy/lethe.env is stale: regenerate it with `lethe serve --print-env > deploy/lethe.env`"
    )


def test_the_environment_file_names_every_setting_with_its_default() -> None:
    lines = (DEPLOY / "lethe.env").read_text().splitlines()
    named = {line.lstrip("#").split("=")[0]: line for line in lines if "=" in line and "LETHE_" in line.split("=")[0]}
    assert set(named) == {PREFIX + name.upper() for name in Settings.model_fields}
    defaults = Settings()
    for name in Settings.model_fields:
        line = named[PREFIX + name.upper()]
        if name in SERVER_VALUES:
            assert line == f"{PREFIX}{name.upper()}={SERVER_VALUES[name]}"
        else:  # commented out, at the default
            value = getattr(defaults, name)
            shown = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
            assert line == f"#{PREFIX}{name.upper()}={shown}"


def test_the_environment_file_loads_as_the_service_reads_it() -> None:
    values = dict(
        line.split("=", 1) for line in (DEPLOY / "lethe.env").read_text().splitlines() if line and line[0] != "#"
    )
    settings = Settings.from_env(values)
    assert settings.instance_path == Path("/var/lib/lethe")
    assert settings.proxy_hops == 1


def test_the_units_run_lethe_as_its_own_user_with_the_environment_file() -> None:
    service = (DEPLOY / "systemd/lethe.service").read_text()
    assert "User=lethe" in service
    assert "EnvironmentFile=/etc/lethe/lethe.env" in service
    assert "--host 127.0.0.1" in service  # only nginx reaches it
    assert "StateDirectory=lethe" in service  # /var/lib/lethe, LETHE_INSTANCE_PATH in lethe.env
    assert "OnCalendar=hourly" in (DEPLOY / "systemd/lethe-purge.timer").read_text()
    assert "ExecStart=/opt/lethe/.venv/bin/lethe purge" in (DEPLOY / "systemd/lethe-purge.service").read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_units_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` with lethe stood in for; any warning about the units fails the test."""
    stand_in = tmp_path / "lethe"
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/lethe/.venv/bin/lethe", str(stand_in)))
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"SYSTEMD_LOG_LEVEL": "warning"},
    )
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if str(tmp_path) in line] == []
