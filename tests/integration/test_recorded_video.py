"""The recorded-video suite: the real service and the real kiosk command on recorded footage.

Every kiosk run is recorded (decision, score, threshold, time to decision) in the suite's
report when ``LETHE_TEST_INTEGRATION_REPORT`` names a file; docs/evaluation.md summarises a run.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import requests

from lethe.demo import lethe_command
from tests.helpers.deployment import Checkin, Deployment, Portrait

MISC = "faces/face_recognition/misc"
HAMILTON = "video/short_hamilton_clip.mp4"
LIVE = "video/live_vs_replay_a/live.mov"
ENSEMBLE = "video/ensemble/clip.mp4"
GROUP_SHOT_S = 4.5  # the clip opens on two people (Rachel and Joey) together until about 5 s
ENSEMBLE_FPS = 24000 / 1001


def test_hamilton_guest_accepted(deployment: Deployment, checkin: Checkin, testdata: Path) -> None:
    booking = deployment.reservation()["booking_code"]
    run = checkin(deployment, "genuine", testdata / HAMILTON, testdata / MISC / "lin-manuel-miranda.png", booking)
    assert run.status == 0, run.answer
    assert (run.decision, run.answer["reason"]) == ("accepted", "match")
    assert run.answer["score"] >= run.answer["threshold"]


def test_hamilton_impostor_rejected(deployment: Deployment, checkin: Checkin, testdata: Path) -> None:
    booking = deployment.reservation()["booking_code"]
    run = checkin(deployment, "impostor", testdata / HAMILTON, testdata / MISC / "alex-lacamoire.png", booking)
    assert run.status == 1, run.answer
    assert (run.decision, run.answer["reason"]) == ("rejected", "no-match")
    assert run.answer["score"] < run.answer["threshold"]


def test_webcam_guest_accepted_then_checkout_forgets_with_receipt(
    deployment: Deployment,
    checkin: Checkin,
    testdata: Path,
    portrait_from_video: Callable[..., Portrait],
    tmp_path: Path,
) -> None:
    portrait = portrait_from_video(testdata / LIVE)
    reservation = deployment.reservation("Live guest")
    run = checkin(deployment, "genuine", testdata / LIVE, portrait.path, reservation["booking_code"])
    assert run.status == 0, run.answer
    assert run.decision == "accepted"
    assert run.answer["score"] >= run.answer["threshold"]
    # The kiosk decided on frames read before the part of the video the ID photo was cut from.
    assert run.answer["frames_seen"] / portrait.frame_rate < portrait.timestamp_s
    before = deployment.stay_state(reservation["reference"])
    assert (before.status, before.templates, before.data_keys, before.attempts) == ("checked_in", 1, 1, 1)

    checkout = deployment.checkout(reservation["reference"])
    assert checkout.status_code == 200
    after = deployment.stay_state(reservation["reference"])
    assert (after.status, after.templates, after.data_keys) == ("checked_out", 0, 0)

    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(checkout.json()))
    public_key = tmp_path / "receipt.pem"
    public_key.write_text(
        requests.get(f"{deployment.url}/api/v1/keys", timeout=10).json()["receipt"][0]["public_key_pem"]
    )
    # Offline: no service URL, no instance folder, only the receipt and the published key.
    offline_env = {k: v for k, v in os.environ.items() if not k.startswith("LETHE_")}
    verified = subprocess.run(
        lethe_command("receipt", "verify", str(receipt), "--public-key", str(public_key)),
        env=offline_env,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert verified.returncode == 0, verified.stderr
    assert "1 template(s) and 1 data key(s) deleted" in verified.stdout

    again = checkin(deployment, "after checkout", testdata / LIVE, portrait.path, reservation["booking_code"])
    assert (again.status, again.error.get("code")) == (4, "stay-not-active")


def test_webcam_impostor_rejected(
    deployment: Deployment, checkin: Checkin, testdata: Path, portrait_from_video: Callable[..., Portrait]
) -> None:
    booking = deployment.reservation()["booking_code"]
    run = checkin(deployment, "impostor", testdata / LIVE, testdata / MISC / "lin-manuel-miranda.png", booking)
    assert run.status == 1, run.answer
    assert (run.decision, run.answer["reason"]) == ("rejected", "no-match")
    assert run.answer["score"] < run.answer["threshold"]


def test_group_shot_asks_for_one_face_at_a_time(deployment: Deployment, checkin: Checkin, testdata: Path) -> None:
    reservation = deployment.reservation("Rachel")
    run = checkin(
        deployment,
        f"two faces only (first {GROUP_SHOT_S} s)",
        testdata / ENSEMBLE,
        testdata / "video/ensemble/refs/Rachel.png",
        reservation["booking_code"],
        env={"LETHE_KIOSK_MAX_SECONDS": str(GROUP_SHOT_S)},
    )
    assert run.status == 3, run.answer
    assert run.error["code"] == "no-usable-face"
    assert "one face at a time" in run.error["detail"]
    assert run.error["guidance"]
    state = deployment.stay_state(reservation["reference"])
    assert (state.attempts, state.templates, state.status) == (0, 0, "reserved")


def test_group_scene_never_templates_a_bystander(deployment: Deployment, checkin: Checkin, testdata: Path) -> None:
    """Rachel is in view only with Joey beside her; the kiosk waits for a face alone (Chandler's, at 5 s)."""
    refs = testdata / "video/ensemble/refs"
    rachel = checkin(
        deployment, "guest seen only in a group", testdata / ENSEMBLE, refs / "Rachel.png", _booking(deployment)
    )
    assert rachel.status == 1, rachel.answer
    assert (rachel.decision, rachel.answer["reason"]) == ("rejected", "no-match")
    assert rachel.answer["frames_seen"] > GROUP_SHOT_S * ENSEMBLE_FPS  # it read past the group shot
    chandler = checkin(
        deployment, "guest alone in view", testdata / ENSEMBLE, refs / "Chandler.png", _booking(deployment)
    )
    assert chandler.status == 0, chandler.answer
    assert chandler.decision == "accepted"


def test_no_face_times_out_with_guidance(
    deployment: Deployment, checkin: Checkin, testdata: Path, tmp_path: Path
) -> None:
    video = _faceless_video(tmp_path / "empty-lobby.avi", seconds=4.0)
    reservation = deployment.reservation()
    run = checkin(
        deployment,
        "no face (2 s limit)",
        video,
        testdata / MISC / "lin-manuel-miranda.png",
        reservation["booking_code"],
        env={"LETHE_KIOSK_MAX_SECONDS": "2"},
    )
    assert run.status == 3, run.answer
    assert run.error["code"] == "no-usable-face"
    assert "Please look at the camera" in run.error["detail"]
    assert run.error["guidance"]
    state = deployment.stay_state(reservation["reference"])
    assert (state.attempts, state.templates) == (0, 0)


def _booking(deployment: Deployment) -> str:
    booking: str = deployment.reservation()["booking_code"]
    return booking


def _faceless_video(path: Path, *, seconds: float, fps: float = 15.0) -> Path:
    """A synthetic lobby with no one in it: a drifting gradient with sensor noise (Motion-JPEG AVI)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(6)
    width, height = 640, 360
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    x = np.linspace(0, 255, width, dtype=np.float32)
    for i in range(int(seconds * fps)):
        row = (x + 8 * i) % 256
        frame = np.repeat(np.repeat(row[None, :, None], height, axis=0), 3, axis=2)
        frame[:, :, 1] = np.linspace(40, 200, height, dtype=np.float32)[:, None]
        frame += rng.normal(0, 6, frame.shape).astype(np.float32)
        writer.write(np.clip(frame, 0, 255).astype(np.uint8))
    writer.release()
    return path
