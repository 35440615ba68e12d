"""Live capture with landmarks, passive liveness and the challenge, on recorded video and photos."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.backends import Embedder
from edge.capture import LiveCapture
from edge.errors import NoUsableFace
from edge.landmarks import LandmarkModel
from edge.liveness import PassiveLiveness
from edge.settings import KioskSettings
from edge.sources import ImageSource, VideoFileSource
from models import load_manifest

THRESHOLD = load_manifest().threshold("dlib-resnet-v1")


@pytest.fixture(scope="module")
def capturer(dlib_backend: Embedder) -> LiveCapture:
    return LiveCapture(
        dlib_backend,
        KioskSettings(),
        match_threshold=THRESHOLD,
        landmarks=LandmarkModel(),
        passive=PassiveLiveness(),
    )


def test_live_video_with_the_blink_it_contains(capturer: LiveCapture, testdata: Path) -> None:
    said: list[str] = []
    with VideoFileSource(testdata / "video/live_vs_replay_a/live.mov") as source:
        capture = capturer.run(source, challenge="blink", on_guidance=said.append)
    assert capture.challenge_passed
    assert capture.passive is not None
    assert capture.passive.score >= 0.5
    assert capture.passive.frames >= 5
    assert "Please blink." in said


def test_replay_fails_passive_and_a_turn_it_does_not_make(capturer: LiveCapture, testdata: Path) -> None:
    with VideoFileSource(testdata / "video/live_vs_replay_a/replay.mp4") as source:
        capture = capturer.run(source, challenge="turn-left")
    assert not capture.challenge_passed
    assert capture.passive is not None
    assert capture.passive.score < 0.5


def test_two_people_are_asked_to_come_one_at_a_time(capturer: LiveCapture, testdata: Path) -> None:
    said: list[str] = []
    photo = testdata / "faces/face_recognition/misc/two_people.jpg"
    with ImageSource(photo) as source, pytest.raises(NoUsableFace, match="Only one person"):
        capturer.run(source, on_guidance=said.append)
    assert said == ["Only one person please: one face at a time."]
