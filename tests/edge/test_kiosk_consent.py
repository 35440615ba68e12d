"""The headless kiosk never checks a guest in without an explicit consent decision."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from edge.cli import kiosk
from edge.errors import ConsentRefused
from edge.kiosk import run_checkin
from edge.settings import KioskSettings


def test_the_command_needs_consent_accepted(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        kiosk,
        ["--service", "http://127.0.0.1:9", "--source", "0", "--id-image", str(tmp_path / "id.png"),
         "--booking", "LETHE1.ABCDEFGH.x"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--consent-accepted" in result.output


def test_a_run_without_screen_or_consent_stops_before_anything(tmp_path: Path) -> None:
    settings = KioskSettings(service_url="http://127.0.0.1:9", key_file=tmp_path / "missing.json")
    with pytest.raises(ConsentRefused):
        run_checkin(settings, source="0", id_image=tmp_path / "id.png", booking="LETHE1.ABCDEFGH.x")
    assert list(tmp_path.iterdir()) == []
