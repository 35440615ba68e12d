"""Presentation attacks: a phone replaying the guest's video to the kiosk camera must be refused.

The replayed face matches the ID photo (it is the same person), so only liveness can refuse
it: the kiosk sends its passive liveness score inside the sealed envelope and the service's
policy rejects the attempt before comparing faces.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.helpers.deployment import Checkin, Deployment, Portrait


def test_phone_replay_of_the_guest_rejected(
    deployment: Deployment, checkin: Checkin, testdata: Path, portrait_from_video: Callable[..., Portrait]
) -> None:
    portrait = portrait_from_video(testdata / "video/live_vs_replay_a/live.mov")
    booking = deployment.reservation()["booking_code"]
    run = checkin(deployment, "replay attack", testdata / "video/live_vs_replay_a/replay.mp4", portrait.path, booking)
    assert (run.decision, run.answer.get("reason")) == ("rejected", "liveness-failed"), run.answer


def test_phone_replay_of_another_guest_rejected(
    deployment: Deployment, checkin: Checkin, testdata: Path, portrait_from_video: Callable[..., Portrait]
) -> None:
    video = testdata / "video/replay_b/replay.mp4"
    portrait = portrait_from_video(video)
    booking = deployment.reservation()["booking_code"]
    run = checkin(deployment, "replay attack", video, portrait.path, booking)
    assert (run.decision, run.answer.get("reason")) == ("rejected", "liveness-failed"), run.answer
