"""Liveness end to end: the real service applies the property's policy to the evidence the real kiosk seals."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.deployment import Deployment

MISC = "faces/face_recognition/misc"


def test_phone_replay_is_rejected_before_the_match(deployment: Deployment, testdata: Path) -> None:
    booking = deployment.reservation()["booking_code"]
    status, answer = deployment.kiosk(
        testdata / "video/replay_b/replay.mp4", testdata / MISC / "lin-manuel-miranda.png", booking
    )
    assert status == 1, answer
    assert (answer["decision"], answer["reason"]) == ("rejected", "liveness-failed")
    assert answer["passive_score"] < 0.5
    assert answer["score"] is None


def test_a_challenge_the_video_does_not_perform_fails(deployment: Deployment, testdata: Path) -> None:
    deployment.liveness_policy(require_challenge=True, challenge_mix={"turn-left": 1})
    try:
        booking = deployment.reservation()["booking_code"]
        status, answer = deployment.kiosk(
            testdata / "video/short_hamilton_clip.mp4", testdata / MISC / "lin-manuel-miranda.png", booking
        )
    finally:
        deployment.liveness_policy(require_challenge=False)
    assert status == 1, answer
    assert answer["challenge"] == "turn-left"
    assert answer["challenge_passed"] is False
    assert answer["reason"] == "liveness-failed"
    assert answer["passive_score"] >= 0.5


def test_booking_qr_read_from_the_camera(deployment: Deployment, testdata: Path, tmp_path: Path) -> None:
    booking = deployment.reservation()["booking_code"]
    qr = tmp_path / "booking.png"
    deployment.lethe("booking", "qr", booking, "--format", "png", "--out", str(qr))
    done = deployment.lethe(
        "kiosk",
        "--consent-accepted",
        "--booking-source", str(qr),
        "--source", str(testdata / "video/short_hamilton_clip.mp4"),
        "--id-image", str(testdata / MISC / "lin-manuel-miranda.png"),
        "--json",
        check=False,
    )  # fmt: skip
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0, answer
    assert answer["decision"] == "accepted"
