"""The distribution's extras: the wheel built from this tree, ``lethe-checkin[service]`` in a fresh virtual
environment, and ``lethe serve`` answering ``/healthz`` there without the kiosk's machine learning."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import requests

from lethe.demo import free_port, wait_until_healthy
from tests.helpers import ROOT

pytestmark = pytest.mark.wheel

# What a server must not get: the kiosk's and the evaluation's libraries (distribution names, normalised).
KIOSK_ONLY = {"dlib-bin", "onnxruntime", "onnx", "opencv-python-headless", "matplotlib", "scipy", "ai-edge-litert"}


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the files git tracks or would (the tree itself gets no build/ or egg-info)."""
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():  # a file deleted but not yet committed is skipped
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, source],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("lethe_checkin-*.whl")
    return built


def _requirements(wheel: Path) -> dict[str, set[str]]:
    """Each extra's requirements as the wheel's METADATA states them ("" is the bare install)."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(name))
    extras: dict[str, set[str]] = {}
    for requirement in metadata.get_all("Requires-Dist") or []:
        spec, _, marker = requirement.partition(";")
        extra = marker.split("extra ==")[-1].strip().strip("'\"") if "extra ==" in marker else ""
        project = spec.split("[")[0].split(">")[0].split("<")[0].split("=")[0].split("(")[0].strip()
        extras.setdefault(extra, set()).add(_normalise(project))
    return extras


def test_each_extra_brings_its_part_only(wheel: Path) -> None:
    extras = _requirements(wheel)
    assert {"service", "kiosk", "eval", "dev"} <= set(extras)
    assert not (extras[""] | extras["service"]) & KIOSK_ONLY
    assert {"flask", "gunicorn", "sqlalchemy", "alembic"} <= extras["service"]
    assert {"dlib-bin", "onnxruntime", "opencv-python-headless", "ai-edge-litert"} <= extras["kiosk"]
    assert {"matplotlib", "scipy"} <= extras["eval"]
    assert {"pytest", "ruff", "mypy"} <= extras["dev"]


@pytest.fixture(scope="module")
def service_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with ``lethe-checkin[service]`` from the wheel (pip's cache and index)."""
    folder = tmp_path_factory.mktemp("venv") / "server"
    venv.EnvBuilder(with_pip=True).create(folder)
    subprocess.run(
        [folder / "bin/python", "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{wheel}[service]"],
        check=True,
        timeout=600,
    )
    return folder


def _clean_env(instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LETHE_", "PYTHON", "VIRTUAL_ENV"))}
    return env | {"LETHE_INSTANCE_PATH": str(instance)}


def test_service_install_has_no_kiosk_libraries(service_venv: Path) -> None:
    listed = subprocess.run(
        [service_venv / "bin/python", "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {_normalise(line.split("==")[0]) for line in listed.splitlines()}
    assert "lethe-checkin" in installed
    assert not installed & KIOSK_ONLY, installed & KIOSK_ONLY


def test_service_install_serves_and_names_missing_extras(service_venv: Path, tmp_path: Path) -> None:
    lethe = service_venv / "bin/lethe"
    env = _clean_env(tmp_path / "instance")

    check = subprocess.run([lethe, "serve", "--check-config"], env=env, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert f"LETHE_INSTANCE_PATH={tmp_path / 'instance'}" in check.stdout

    listing = subprocess.run([lethe, "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert "serve" in listing.stdout
    assert "lethe-checkin[kiosk]" in listing.stdout  # kiosk, models and media: not installed, and which extra

    kiosk = subprocess.run([lethe, "kiosk", "--help"], env=env, capture_output=True, text=True, timeout=60)
    refused = subprocess.run(
        [lethe, "kiosk", "--consent-accepted", "--source", "x.mp4", "--id-image", "x.png"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert kiosk.returncode == 0 or "lethe-checkin[kiosk]" in kiosk.stdout + kiosk.stderr
    assert refused.returncode != 0
    assert "pip install 'lethe-checkin[kiosk]'" in refused.stderr
    assert "Traceback" not in refused.stderr

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("w+") as log:
        serve = subprocess.Popen(
            [lethe, "serve", "--port", str(port), "--workers", "1"], env=env, stdout=log, stderr=log
        )
        try:
            wait_until_healthy(serve, url, log)  # raises with the service's log if it exits or never answers
            assert requests.get(f"{url}/healthz", timeout=10).json()["status"] == "ok"
        finally:
            serve.terminate()
            serve.wait(timeout=30)
