"""Run a check in a fresh Python process: what a module imports shows only where nothing was imported before."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def check_in_fresh_python(code: str, data_mirror: Path) -> None:
    """Run ``code`` with this interpreter in a new process; fail the test with its stderr if it fails."""
    env = os.environ | {"LETHE_DATA_MIRROR": str(data_mirror)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
