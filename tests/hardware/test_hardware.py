"""hardware/: the systemd units, the permissions and the install script are checked as files.

The aarch64 proof (``hardware/aarch64/check.py``: the kiosk installed into an
emulated Debian arm64 root and run against a service here) takes most of an
hour and needs root: it is opt-in, ``pytest -m aarch64``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HARDWARE = Path(__file__).resolve().parents[2] / "hardware"
UNITS = sorted((HARDWARE / "systemd").glob("*.service"))


def test_every_unit_starts_again_whatever_its_end_and_runs_as_its_own_user() -> None:
    assert {u.name for u in UNITS} == {"lethe-kiosk.service", "lethe-screen.service"}
    for unit in UNITS:
        text = unit.read_text()
        # The kiosk ends after each guest (0, 1 or 5): Restart=on-failure would leave it stopped after a check-in.
        assert "Restart=always" in text, unit.name
        assert "User=" in text, unit.name
        assert "User=root" not in text, unit.name
    kiosk = (HARDWARE / "systemd" / "lethe-kiosk.service").read_text()
    assert "SuccessExitStatus=1 5" in kiosk  # a rejection and the front desk chosen are normal ends, not failures


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_units_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify``, with the programs the units start stood in for (they are not installed here).

    It exits 0 even for unknown keys or values, so any warning fails the test too.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    programs = {"/opt/lethe/.venv/bin/lethe": "lethe", "/usr/bin/cage": "cage", "/usr/bin/chromium": "chromium"}
    for name in programs.values():
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    for unit in UNITS:
        text = unit.read_text()
        for path, name in programs.items():
            text = text.replace(path, str(bin_dir / name))
        (tmp_path / unit.name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"SYSTEMD_LOG_LEVEL": "warning"},
    )
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if str(tmp_path) in line] == []


def test_the_key_and_settings_are_private_to_the_kiosk_user() -> None:
    lines = [line.split() for line in (HARDWARE / "tmpfiles.d/lethe-kiosk.conf").read_text().splitlines()]
    rules = {fields[1]: fields for fields in lines if fields and not fields[0].startswith("#")}
    assert rules["/var/lib/lethe-kiosk"][2:5] == ["0700", "lethe-kiosk", "lethe-kiosk"]
    assert rules["/var/lib/lethe-kiosk/.config/lethe/kiosk.json"][2] == "0600"
    assert rules["/etc/lethe/kiosk.env"][2:5] == ["0640", "root", "lethe-kiosk"]


def test_the_install_script_parses_and_its_settings_are_known_to_the_kiosk() -> None:
    done = subprocess.run(["sh", "-n", str(HARDWARE / "install.sh")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    from edge.settings import KioskSettings

    settings = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in (HARDWARE / "kiosk.env.example").read_text().splitlines()
        if line.startswith("LETHE_KIOSK_")
    }
    KioskSettings.from_env(settings)  # an unknown LETHE_KIOSK_ variable would be an error here


@pytest.mark.aarch64
@pytest.mark.timeout(7200)
def test_the_kiosk_installs_and_checks_in_on_aarch64(data_mirror: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the aarch64 check needs root (debootstrap, chroot, mount)")
    root = os.environ.get("LETHE_AARCH64_ROOT", "/var/lib/lethe-aarch64/root")
    done = subprocess.run(
        [sys.executable, str(HARDWARE / "aarch64/check.py"), "--root", root],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"LETHE_DATA_MIRROR": str(data_mirror)},
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
