#!/usr/bin/env python3
"""Set up the development environment if needed, then run a job in it.

    python3 dev.py demo    # the end-to-end check-in demo (service + kiosk on recorded video)
    python3 dev.py test    # ruff, mypy and pytest
    python3 dev.py setup   # only create or refresh .venv

Needs only Python 3.11+. The virtual environment lives in .venv and is
refreshed when pyproject.toml or this file changes. dlib comes from the
dlib-bin wheel; face-recognition is installed without its `dlib` requirement so
nothing is ever compiled.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".lethe-setup"
FACE_RECOGNITION = "face-recognition==1.3.0"


def run(*args: str | Path, **kwargs: object) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kwargs)  # type: ignore[call-overload]


def setup() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + Path(__file__).read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = (BIN / "python", "-m", "pip", "--disable-pip-version-check", "-q")
    run(*pip, "install", "--upgrade", "pip")
    run(*pip, "install", "-e", ".[test]")
    run(*pip, "install", "--no-deps", FACE_RECOGNITION)
    STAMP.write_text(wanted)


def environment() -> dict[str, str]:
    env = dict(os.environ)
    shared = ROOT.parent / "shared"
    if "LETHE_DATA_MIRROR" not in env and shared.is_dir():
        env["LETHE_DATA_MIRROR"] = str(shared)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def main(argv: list[str]) -> int:
    job = argv[0] if argv else "help"
    if job not in {"setup", "demo", "test"}:
        print(__doc__)
        return 0 if job in {"help", "-h", "--help"} else 2
    setup()
    env = environment()
    try:
        if job == "demo":
            run(BIN / "lethe", "demo", *argv[1:], env=env)
        elif job == "test":
            run(BIN / "ruff", "check", ".", env=env)
            run(BIN / "ruff", "format", "--check", ".", env=env)
            run(BIN / "mypy", env=env)
            run(BIN / "python", "-m", "pytest", *argv[1:], env=env)
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
