"""Failures the kiosk must not hide: each cause logged, and the same exit status from both kiosk commands.

``lethe kiosk`` (headless) and ``lethe kiosk screen`` (with ``--retry-for 0``, so that a
kiosk that cannot work ends instead of retrying) run as the real processes against the
real service, once per cause named in issue 17: the video missing, a camera index that
does not exist, the service down, no booking QR in the source, the liveness models missing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edge.errors import ExitStatus
from lethe.booking import render_qr
from lethe.demo import free_port, lethe_command
from tests.helpers.deployment import Deployment

CLIP = "video/short_hamilton_clip.mp4"
PORTRAIT = "faces/face_recognition/misc/lin-manuel-miranda.png"
CAUSES = ["video-missing", "camera-index-absent", "service-down", "no-booking-qr", "liveness-models-missing"]


def _case(cause: str, deployment: Deployment, testdata: Path, tmp_path: Path) -> tuple[dict[str, str], str, str]:
    """The environment, --source and booking QR source for ``cause``; the expected code."""
    env = dict(deployment.env)
    source, qr_source = str(testdata / CLIP), tmp_path / "booking.png"
    qr_source.write_bytes(render_qr(deployment.reservation()["booking_code"], "png"))
    booking = str(qr_source)
    if cause == "video-missing":
        return env, str(tmp_path / "no-such-video.mp4"), booking
    if cause == "camera-index-absent":
        return env, "9", booking
    if cause == "service-down":
        env["LETHE_KIOSK_SERVICE_URL"] = f"http://127.0.0.1:{free_port()}"
        return env, source, booking
    if cause == "no-booking-qr":
        return env, source, source  # the clip shows a face, never a QR code
    empty = tmp_path / "no-models"
    empty.mkdir()
    env |= {"LETHE_MODEL_DIR": str(empty), "LETHE_MODEL_MIRROR": str(empty)}
    return env, source, booking


EXPECTED = {
    "video-missing": ("source-unavailable", ExitStatus.KIOSK_ERROR),
    "camera-index-absent": ("source-unavailable", ExitStatus.KIOSK_ERROR),
    "service-down": ("service-unreachable", ExitStatus.SERVICE_PROBLEM),
    "no-booking-qr": ("no-booking-qr", ExitStatus.KIOSK_ERROR),
    "liveness-models-missing": ("configuration-error", ExitStatus.KIOSK_ERROR),
}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(lethe_command(*args), env=env, capture_output=True, text=True, check=False, timeout=300)


@pytest.mark.parametrize("cause", CAUSES)
def test_each_cause_is_logged_with_the_same_status_from_both_commands(
    cause: str, deployment: Deployment, testdata: Path, tmp_path: Path
) -> None:
    env, source, booking_source = _case(cause, deployment, testdata, tmp_path)
    code, status = EXPECTED[cause]
    common = ["--source", source, "--id-image", str(testdata / PORTRAIT), "--booking-source", booking_source]

    headless = _run(["kiosk", "--consent-accepted", "--json", *common], env)
    assert headless.returncode == status, headless.stderr
    assert f'"code": "{code}"' in headless.stdout

    screen = _run(["kiosk", "screen", "--port", "0", "--result-seconds", "0", "--retry-for", "0", *common], env)
    assert screen.returncode == status, screen.stderr
    assert f"({code})" in screen.stdout  # result: out-of-order (code) or front-desk (code)
    logged = [line for line in screen.stderr.splitlines() if line.startswith("ERROR edge.")]
    assert any(f": {code}: " in line for line in logged), screen.stderr  # the cause, with its detail
    assert all("score" not in line and "template" not in line.lower() for line in logged)


def test_out_of_order_causes_are_reported_to_the_service(
    deployment: Deployment, testdata: Path, tmp_path: Path
) -> None:
    env, source, booking_source = _case("video-missing", deployment, testdata, tmp_path)
    args = ["kiosk", "screen", "--port", "0", "--result-seconds", "0", "--retry-for", "0", "--source", source]
    done = _run([*args, "--id-image", str(testdata / PORTRAIT), "--booking-source", booking_source], env)
    assert done.returncode == ExitStatus.KIOSK_ERROR
    listed = deployment.lethe("device", "list", "--json").stdout
    assert '"state": "out-of-order"' in listed
    assert '"last_error": "source-unavailable"' in listed
