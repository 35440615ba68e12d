"""End to end with the ONNX backend: the real service process, the real kiosk command with --backend onnx.

The video is the live webcam recording; the ID photo is a frame from its last
second (written by the test, as a document photo would be scanned), while the
kiosk's capture uses its first second. The impostor's ID photo is Joe Biden's.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import cv2
import pytest

from tests.helpers.deployment import Deployment

MISC = "faces/face_recognition/misc"
MODEL = "mobilefacenet-112"


@pytest.fixture
def onnx_kiosk(deployment: Deployment) -> Deployment:
    return dataclasses.replace(deployment, env=deployment.env | {"LETHE_KIOSK_ONNX_EMBEDDER": MODEL})


def run(deployment: Deployment, video: Path, id_image: Path, booking: str) -> tuple[int, dict]:
    done = deployment.lethe(
        "kiosk", "--consent-accepted", "--backend", "onnx", "--source", str(video), "--id-image", str(id_image),
        "--booking", booking, "--json", check=False,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr
    return done.returncode, json.loads(lines[-1])


def test_onnx_template_verifies_through_the_service(onnx_kiosk: Deployment, testdata: Path, tmp_path: Path) -> None:
    video = testdata / "video/live_vs_replay_a/live.mov"
    reader = cv2.VideoCapture(str(video))
    reader.set(cv2.CAP_PROP_POS_FRAMES, int(reader.get(cv2.CAP_PROP_FRAME_COUNT)) - 15)
    ok, frame = reader.read()
    reader.release()
    assert ok
    id_photo = tmp_path / "id-photo.png"
    cv2.imwrite(str(id_photo), frame)
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


def test_production_embedder_missing_is_a_clear_kiosk_error(
    deployment: Deployment, testdata: Path, data_mirror: Path, tmp_path: Path
) -> None:
    """Without LETHE_KIOSK_ONNX_EMBEDDER the kiosk asks for SFace; a mirror without it gives a clear error."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(data_mirror / "models/face_detection_yunet_2023mar.onnx", mirror)
    isolated = dataclasses.replace(
        deployment, env=deployment.env | {"LETHE_MODEL_DIR": str(tmp_path / "cache"), "LETHE_MODEL_MIRROR": str(mirror)}
    )
    booking = isolated.reservation()["booking_code"]
    status, answer = run(isolated, testdata / "video/short_hamilton_clip.mp4", testdata / MISC / "biden.jpg", booking)
    assert status == 3
    assert answer["error"]["code"] == "configuration-error"
    assert "sface-2021dec" in answer["error"]["detail"]
