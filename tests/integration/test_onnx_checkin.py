"""End to end with the ONNX backend: the real service process, the real kiosk command with --backend onnx.

The video is the live webcam recording; the ID photo is a frame from its last
second (written by the test, as a document photo would be scanned), while the
kiosk's capture uses its first second. The impostor's ID photo is Joe Biden's.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import pytest

from tests.helpers.deployment import Deployment

MISC = "faces/face_recognition/misc"
MODEL = "dlib-resnet-v1"  # the default embedder: dlib's ResNet in ONNX


@pytest.fixture
def onnx_kiosk(deployment: Deployment) -> Deployment:
    return dataclasses.replace(deployment, env=deployment.env | {"LETHE_KIOSK_ONNX_EMBEDDER": MODEL})


def run(deployment: Deployment, video: Path, id_image: Path | None, booking: str) -> tuple[int, dict]:
    """``lethe kiosk --backend onnx`` on ``video``; without ``id_image`` a re-verification (``--reverify``)."""
    identity = ["--id-image", str(id_image)] if id_image is not None else ["--reverify"]
    done = deployment.lethe(
        "kiosk", "--consent-accepted", "--backend", "onnx", "--source", str(video), *identity,
        "--booking", booking, "--json", check=False,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr
    return done.returncode, json.loads(lines[-1])


def id_photo_from_the_end(video: Path, folder: Path) -> Path:
    """A frame from the video's last half second, written as the ID photo (the capture reads its start)."""
    reader = cv2.VideoCapture(str(video))
    reader.set(cv2.CAP_PROP_POS_FRAMES, int(reader.get(cv2.CAP_PROP_FRAME_COUNT)) - 15)
    ok, frame = reader.read()
    reader.release()
    assert ok
    cv2.imwrite(str(folder / "id-photo.png"), frame)
    return folder / "id-photo.png"


def test_onnx_template_verifies_through_the_service(onnx_kiosk: Deployment, testdata: Path, tmp_path: Path) -> None:
    video = testdata / "video/live_vs_replay_a/live.mov"
    id_photo = id_photo_from_the_end(video, tmp_path)
    booking = onnx_kiosk.reservation("Webcam Guest")["booking_code"]

    status, guest = run(onnx_kiosk, video, id_photo, booking)
    assert status == 0, guest
    assert guest["decision"] == "accepted"
    assert guest["model"] == MODEL
    assert guest["score"] >= guest["threshold"]

    status, impostor = run(onnx_kiosk, video, testdata / MISC / "biden.jpg", booking)
    assert status == 1, impostor
    assert (impostor["decision"], impostor["reason"], impostor["model"]) == ("rejected", "no-match", MODEL)
    assert impostor["score"] < impostor["threshold"]
    # The threshold the service applied is the manifest's, for this model.
    from models import load_manifest

    assert guest["threshold"] == impostor["threshold"] == load_manifest().threshold(MODEL)


def test_a_template_enrolled_at_a_dlib_kiosk_reverifies_at_an_onnx_kiosk(
    deployment: Deployment, testdata: Path, tmp_path: Path
) -> None:
    """dlib's ResNet in ONNX makes the dlib backend's templates: same model id, same threshold, a match.

    The guest checks in at a dlib kiosk (the live template is stored for the
    stay), then comes back to an ONNX kiosk with the default embedder, which
    sends a live template and no ID: the service compares it with the stored one.
    A stranger with the same booking code is rejected there.
    """
    video = testdata / "video/live_vs_replay_a/live.mov"
    id_photo = id_photo_from_the_end(video, tmp_path)
    reservation = deployment.reservation("Webcam Guest")
    booking = reservation["booking_code"]

    status, enrolled = deployment.kiosk(video, id_photo, booking, env={"LETHE_KIOSK_BACKEND": "dlib"})
    assert (status, enrolled["decision"], enrolled["model"]) == (0, "accepted", "dlib-resnet-v1"), enrolled
    assert deployment.stay_state(reservation["reference"]).templates == 1

    status, again = run(deployment, video, None, booking)
    assert status == 0, again
    assert (again["decision"], again["reason"], again["model"]) == ("accepted", "match", "dlib-resnet-v1")
    assert again["threshold"] == enrolled["threshold"]
    status, stranger = run(deployment, testdata / "video/short_hamilton_clip.mp4", None, booking)
    assert status == 1, stranger
    assert (stranger["decision"], stranger["reason"]) == ("rejected", "no-match")
