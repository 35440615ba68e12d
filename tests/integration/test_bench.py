"""The benchmark commands run end to end (tiny sizes: this checks they work, not how fast)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner

from lethe.cli import main
from lethe.demo import lethe_command


def test_bench_verify_with_the_python_client() -> None:
    result = CliRunner().invoke(
        main,
        ["bench", "verify", "--duration", "2", "--client", "python", "--stays", "3", "--rate-guess", "200", "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["full"]["requests"] > 0
    assert report["full"]["non_2xx"] == 0
    assert report["full"]["outcomes"] == {"accepted": report["full"]["requests"]}
    assert report["bare"]["requests"] > 0
    assert report["bare"]["non_2xx"] == 0
    assert report["ratio"] > 0


def test_bench_purge() -> None:
    result = CliRunner().invoke(main, ["bench", "purge", "--stays", "120", "--batch", "50", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["report"]["expired_stays"] == 120
    assert report["report"]["templates"] == 120


def test_bench_screen_measures_what_the_guest_feels(data_mirror: Path) -> None:
    done = subprocess.run(
        lethe_command("bench", "screen", "--runs", "1"), capture_output=True, text=True, check=False, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "| booking QR read → result on screen |" in done.stdout
    assert "| first usable face frame → result on screen |" in done.stdout
