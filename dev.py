#!/usr/bin/env python3
"""Set up the development environment if needed, then run a job in it.

    python3 dev.py demo    # the end-to-end check-in demo (service + kiosk on recorded video)
    python3 dev.py test    # ruff, mypy and pytest
    python3 dev.py setup   # only create or refresh .venv (and apt-get chromium for the browser tests, as root)

Needs only Python 3.11+. The virtual environment lives in .venv and is
refreshed when pyproject.toml or this file changes. dlib comes from the
dlib-bin wheel, so nothing is ever compiled. Before a job it places the two
model files that come from no mirror in the model cache (`lethe models fetch`:
MediaPipe's face landmark model, taken out of its pinned wheel from the package
index, and dlib's ResNet converted to ONNX); a no-op when they are there. As
root on Debian it also installs the Debian packages the tests need (Chromium,
its WebDriver, a CJK font, systemd-analyze and nginx) when missing,
and with the machine's npm it installs axe-core (pinned in tests/axe) into
.venv/node for the browser tests' accessibility checks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".lethe-setup"
# Models the default configuration loads that no mirror holds (models/manifest.toml).
FETCHED_MODELS = ("mediapipe-face-landmark", "dlib-resnet-v1-onnx")
# Debian packages the tests need: the staff panel's and the guest screen's tests drive the system
# Chromium through chromedriver, the Simplified Chinese text needs a CJK font, the kiosk's and the
# server's systemd units are checked with systemd-analyze, and the server's tests run nginx in front.
DEBIAN_PACKAGES = ("chromium", "chromium-driver", "fonts-noto-cjk", "systemd", "nginx")
# npm packages the browser tests need (axe-core, for the accessibility check), pinned by their lock file,
# installed into .venv/node with the machine's npm.
NODE_PACKAGES = ROOT / "tests" / "axe"


def run(*args: str | Path, **kwargs: object) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kwargs)  # type: ignore[call-overload]


def system_packages() -> None:
    """Install the Debian packages the tests need with apt-get, when running as root and they are missing."""
    if not Path("/usr/bin/dpkg").exists():
        return
    missing = [
        p for p in DEBIAN_PACKAGES if subprocess.run(["dpkg", "-s", p], capture_output=True, check=False).returncode
    ]
    if not missing:
        return
    if os.geteuid() != 0:
        print(f"missing Debian packages (install them as root): {' '.join(missing)}", flush=True)
        return
    apt = {"DEBIAN_FRONTEND": "noninteractive"}
    run("apt-get", "update", "-q", env=dict(os.environ) | apt)
    run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, env=dict(os.environ) | apt)


def node_packages() -> None:
    """Install the pinned npm packages (``tests/axe``) into ``.venv/node`` with ``npm ci`` (integrity-checked)."""
    npm = shutil.which("npm")
    if npm is None:
        print("npm is missing: the accessibility checks of the browser tests need it (Debian: apt-get install npm)")
        return
    target = VENV / "node"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(NODE_PACKAGES / name, target / name)
    run(npm, "ci", "--prefix", target, "--no-audit", "--no-fund", "--ignore-scripts")


def setup() -> None:
    system_packages()
    lock = (NODE_PACKAGES / "package-lock.json").read_bytes()
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + Path(__file__).read_bytes() + lock).hexdigest()
    if STAMP.is_file() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = (BIN / "python", "-m", "pip", "--disable-pip-version-check", "-q")
    run(*pip, "install", "--upgrade", "pip")
    run(*pip, "install", "-e", ".[dev]")  # every extra: service, kiosk, eval, and the test tools
    node_packages()
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
        if job != "setup":
            run(BIN / "lethe", "models", "fetch", *FETCHED_MODELS, env=env, stdout=subprocess.DEVNULL)
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
