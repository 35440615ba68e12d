"""Landmark measurements and the active challenge on real recorded frames.

``live_vs_replay_a/live.mov`` is a person at a webcam who, unprompted, blinks
(EAR falls from about 0.3 to 0.14 near frame 76 and to 0.12 near frame 178) and
turns their head to their right (frames ~100-130, yaw about -30° to -45°
against +20° at the start); they never turn to their left while a face is
detectable. The phone replays show no blink. What is *not* tested here: a
guest performing a challenge on request, live (recorded video cannot respond),
and a real turn to the left.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.backends import Embedder, FaceBox, create_backend
from edge.backends.dlib_chip import HOG_BOX_SIDE, predictor_box
from edge.challenge import ChallengeDetector, Observation
from edge.landmarks import LandmarkModel, eye_aspect_ratio
from edge.quality import Detector
from edge.sources import VideoFileSource, read_image


@pytest.fixture(scope="module", params=["mediapipe-face-mesh", "dlib-68"])
def landmarks(data_mirror: Path, request: pytest.FixtureRequest) -> LandmarkModel:
    """The default model, and dlib's 68 points (the model it replaced) to show the challenge is as strong."""
    return LandmarkModel(request.param)


def observations(video: Path, backend: Embedder, landmarks: LandmarkModel) -> list[Observation]:
    detect = Detector(backend, max_width=640, upsample=0)
    found = []
    with VideoFileSource(video) as source:
        for frame in source.frames():
            faces = detect(frame.image)
            if len(faces) == 1:
                g = landmarks.geometry(frame.image, faces[0])
                found.append(Observation(frame.index, g.eye_aspect_ratio, g.yaw_deg))
    return found


@pytest.fixture(scope="module")
def live(testdata: Path, dlib_backend: Embedder, landmarks: LandmarkModel) -> list[Observation]:
    return observations(testdata / "video/live_vs_replay_a/live.mov", dlib_backend, landmarks)


@pytest.fixture(scope="module")
def replay(testdata: Path, dlib_backend: Embedder, landmarks: LandmarkModel) -> list[Observation]:
    return observations(testdata / "video/live_vs_replay_a/replay.mp4", dlib_backend, landmarks)


def run(challenge: str, seen: list[Observation]) -> tuple[bool, int | None]:
    detector = ChallengeDetector(challenge)
    for obs in seen:
        if detector.observe(obs):
            return True, obs.index
    return False, None


def test_landmarks_measure_a_frontal_face(testdata: Path, dlib_backend: Embedder, landmarks: LandmarkModel) -> None:
    image = read_image(testdata / "faces/face_recognition/misc/obama.jpg")
    (face,) = Detector(dlib_backend, max_width=640, upsample=0)(image)
    g = landmarks.geometry(image, face)
    assert not g.eyes_closed
    assert landmarks.layout.closed_ear * 1.3 < g.eye_aspect_ratio < landmarks.layout.closed_ear * 3
    assert 0.25 * face.width < g.inter_eye_px < 0.6 * face.width
    assert abs(g.yaw_deg) < 20


def test_eye_aspect_ratio_of_open_and_closed_eyes() -> None:
    open_eye = np.array([(0, 0), (2, -1), (4, -1), (6, 0), (4, 1), (2, 1)], dtype=float)
    closed = open_eye * np.array([1, 0.1])
    assert eye_aspect_ratio(open_eye) == pytest.approx(1 / 3)
    assert eye_aspect_ratio(closed) < 0.05


def test_turns_are_signed_as_the_guest_sees_them(live: list[Observation]) -> None:
    start = float(np.median([o.yaw_deg for o in live[:5]]))
    turned = [o.yaw_deg for o in live if 100 <= o.index <= 127]
    assert start > 5  # slightly to their left at first
    # Then clearly to their right. Both models misread the odd strongly turned frame (the face mesh once
    # by 80° at frame 122): the turn challenge needs consecutive frames, and this test the bulk of them.
    assert np.median(turned) < start - 30
    assert sum(yaw < start - 15 for yaw in turned) >= 0.8 * len(turned)


def test_blink_is_seen_in_the_live_video(live: list[Observation], landmarks: LandmarkModel) -> None:
    passed, at = run("blink", live)
    assert passed
    assert at is not None
    closed = [o for o in live if o.index < at and o.eye_aspect_ratio < landmarks.layout.closed_ear + 0.01]
    assert closed  # a real low-EAR frame came before the pass


def test_turn_right_passes_and_turn_left_does_not(live: list[Observation]) -> None:
    assert run("turn-right", live)[0]
    assert not run("turn-left", live)[0]


def test_replay_without_a_blink_does_not_pass_blink(replay: list[Observation]) -> None:
    assert len(replay) > 30
    assert not run("blink", replay)[0]


def test_a_still_face_passes_no_challenge(live: list[Observation]) -> None:
    still = [Observation(i, live[0].eye_aspect_ratio, live[0].yaw_deg) for i in range(100)]
    for challenge in ("blink", "turn-left", "turn-right"):
        assert not run(challenge, still)[0], challenge
    assert run("none", still) == (True, 0)


def test_turn_must_hold_on_consecutive_frames() -> None:
    detector = ChallengeDetector("turn-left")
    for i in range(5):
        detector.observe(Observation(i, 0.3, 0.0))
    detector.observe(Observation(10, 0.3, 40.0))
    assert not detector.observe(Observation(20, 0.3, 40.0))  # two isolated frames are not a turn
    assert detector.observe(Observation(21, 0.3, 40.0))


def test_unknown_challenge() -> None:
    with pytest.raises(ValueError, match="unknown challenge"):
        ChallengeDetector("smile")


def test_landmarks_on_yunet_faces_agree_with_landmarks_on_hog_faces(
    testdata: Path, dlib_backend: Embedder, landmarks: LandmarkModel, live: list[Observation]
) -> None:
    """dlib's predictor expects HOG's square box; YuNet's taller box is mapped to one (predictor_box).

    Given YuNet's own box, the landmarks slid off the face and 137 of the video's
    199 frames read as turned away (yaw or pitch over 30°), against 23 with HOG.
    """
    onnx = create_backend("onnx", embedder="mobilefacenet-112", threads=1)
    yunet = observations(testdata / "video/live_vs_replay_a/live.mov", onnx, landmarks)
    assert len(yunet) >= len(live)  # YuNet finds the face in at least the frames HOG does
    hog_by_index = {o.index: o for o in live}
    pairs = [(o, hog_by_index[o.index]) for o in yunet if o.index in hog_by_index]
    assert len(pairs) >= 100
    yaw_error = np.median([abs(y.yaw_deg - h.yaw_deg) for y, h in pairs])
    ear_error = np.median([abs(y.eye_aspect_ratio - h.eye_aspect_ratio) for y, h in pairs])
    assert yaw_error < 5.0, yaw_error
    assert ear_error < 0.05, ear_error  # EAR is about 0.3 open, 0.12-0.14 in the blinks
    assert run("blink", yunet)[0]  # the blink is seen through the ONNX backend's faces too


def test_predictor_box_of_a_yunet_face_is_square_about_eyes_and_mouth() -> None:
    points = ((40.0, 50.0), (80.0, 50.0), (60.0, 70.0), (45.0, 90.0), (75.0, 90.0))
    left, top, right, bottom = predictor_box(FaceBox(20, 10, 100, 120, 0.9, points))
    assert right - left == bottom - top == round(HOG_BOX_SIDE * (80 + 110) / 2)
    assert (left + right) / 2 == pytest.approx(60, abs=1)
    assert (top + bottom) / 2 == pytest.approx(70, abs=1)  # midway between eye line (50) and mouth (90)
    assert predictor_box(FaceBox(1, 2, 3, 4)) == (1, 2, 3, 4)  # a HOG box is used as it is
