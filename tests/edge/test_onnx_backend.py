"""The ONNX backend (YuNet, 5-point alignment, MobileFaceNet through onnxruntime) on real photos and video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.backends import FaceBox, create_backend
from edge.backends.onnx import ARCFACE_TEMPLATE, OnnxEmbedder, align, similarity_transform
from edge.capture import LiveCapture
from edge.errors import ConfigurationError, MultipleFacesInIdImage, NoFaceInIdImage
from edge.idrecord import id_template_from_image
from edge.settings import KioskSettings
from edge.sources import VideoFileSource, read_image
from models import load_manifest

MODEL = "mobilefacenet-112"
THRESHOLD = load_manifest().threshold(MODEL)
MISC = "faces/face_recognition/misc"


@pytest.fixture(scope="module")
def onnx_backend(data_mirror: Path) -> OnnxEmbedder:
    backend = create_backend("onnx", embedder=MODEL, threads=1)
    assert isinstance(backend, OnnxEmbedder)
    return backend


def cos(a, b) -> float:
    return float(np.dot(a.vector, b.vector))


def test_similarity_transform_recovers_a_known_similarity() -> None:
    angle, scale, shift = np.deg2rad(17.0), 2.3, np.array([40.0, -12.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = ARCFACE_TEMPLATE
    dst = src @ (scale * rotation).T + shift
    matrix = similarity_transform(src, dst)
    np.testing.assert_allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_detection_gives_one_face_with_five_landmarks_in_order(onnx_backend: OnnxEmbedder, testdata: Path) -> None:
    rgb = np.ascontiguousarray(read_image(testdata / MISC / "obama.jpg")[:, :, ::-1])
    (face,) = onnx_backend.detect(rgb)
    assert face.points is not None
    assert len(face.points) == 5
    (ex1, ey1), (ex2, ey2), (nx, ny), (mx1, my1), (mx2, my2) = face.points
    assert ex1 < nx < ex2
    assert mx1 < mx2
    assert max(ey1, ey2) < ny < min(my1, my2)  # eyes above the nose above the mouth
    assert all(face.left <= x <= face.right and face.top <= y <= face.bottom for x, y in face.points)
    # Scaling the box (as the kiosk's detector does for downscaled frames) scales the landmarks too.
    half = face.scaled(0.5)
    assert half.points is not None
    np.testing.assert_allclose(np.array(half.points), np.array(face.points) * 0.5)


def test_alignment_puts_the_eyes_on_the_template(onnx_backend: OnnxEmbedder, testdata: Path) -> None:
    rgb = np.ascontiguousarray(read_image(testdata / MISC / "biden.jpg")[:, :, ::-1])
    (face,) = onnx_backend.detect(rgb)
    crop = align(rgb, face.points or ())
    assert crop.shape == (112, 112, 3)
    # Detected again in the aligned crop (enlarged, YuNet wants some margin), the eyes sit on the template.
    big = cv2.copyMakeBorder(cv2.resize(crop, (224, 224)), 112, 112, 112, 112, cv2.BORDER_CONSTANT)
    (again,) = onnx_backend.detect(big)
    assert again.points is not None
    eyes = (np.array(again.points[:2]) - 112) / 2
    np.testing.assert_allclose(eyes, ARCFACE_TEMPLATE[:2], atol=4.0)


def test_same_person_above_and_others_below_the_threshold(onnx_backend: OnnxEmbedder, testdata: Path) -> None:
    obama = [id_template_from_image(onnx_backend, testdata / MISC / n, jitters=1) for n in ("obama.jpg", "obama2.jpg")]
    biden = id_template_from_image(onnx_backend, testdata / MISC / "biden.jpg", jitters=1)
    assert obama[0].model_id == MODEL
    assert obama[0].dimension == 128
    assert cos(obama[0], obama[1]) >= THRESHOLD
    assert cos(obama[0], biden) < THRESHOLD
    assert cos(obama[1], biden) < THRESHOLD


def test_id_image_rules_hold_for_onnx(onnx_backend: OnnxEmbedder, testdata: Path, tmp_path: Path) -> None:
    with pytest.raises(MultipleFacesInIdImage):
        id_template_from_image(
            onnx_backend, testdata / "faces/face_recognition/people/test/obama_and_biden.jpg", jitters=1
        )
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 128, np.uint8))
    with pytest.raises(NoFaceInIdImage):
        id_template_from_image(onnx_backend, blank, jitters=1)


def test_box_without_landmarks_still_embeds(onnx_backend: OnnxEmbedder, testdata: Path) -> None:
    rgb = np.ascontiguousarray(read_image(testdata / MISC / "obama.jpg")[:, :, ::-1])
    (face,) = onnx_backend.detect(rgb)
    bare = FaceBox(face.left, face.top, face.right, face.bottom)
    a, b = onnx_backend.embed(rgb, face), onnx_backend.embed(rgb, bare)
    assert a.shape == b.shape == (128,)
    assert np.isfinite(b).all()


def test_live_capture_on_the_webcam_video(onnx_backend: OnnxEmbedder, testdata: Path, tmp_path: Path) -> None:
    """The live webcam video: the ID photo is a frame from its end, the capture uses its first second."""
    video = testdata / "video/live_vs_replay_a/live.mov"
    reader = cv2.VideoCapture(str(video))
    reader.set(cv2.CAP_PROP_POS_FRAMES, int(reader.get(cv2.CAP_PROP_FRAME_COUNT)) - 20)
    ok, frame = reader.read()
    reader.release()
    assert ok
    id_photo = tmp_path / "id.png"
    cv2.imwrite(str(id_photo), frame)
    with VideoFileSource(video) as source:
        capture = LiveCapture(onnx_backend, KioskSettings(backend="onnx"), match_threshold=THRESHOLD).run(source)
    assert capture.template.model_id == MODEL
    assert capture.frames_fused >= 3
    assert capture.first_frame_s < 2.0
    guest = id_template_from_image(onnx_backend, id_photo, jitters=3)
    other = id_template_from_image(onnx_backend, testdata / MISC / "biden.jpg", jitters=3)
    assert cos(capture.template, guest) >= THRESHOLD
    assert cos(capture.template, other) < THRESHOLD


def test_session_is_single_threaded_by_default(onnx_backend: OnnxEmbedder) -> None:
    assert onnx_backend.threads == 1
    assert onnx_backend._session.get_session_options().intra_op_num_threads == 1


def test_bad_options_and_missing_models(data_mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="unknown backend"):
        create_backend("tflite")
    with pytest.raises(ConfigurationError, match="colour"):
        create_backend("onnx", colour="blue")
    with pytest.raises(ConfigurationError, match="unknown ONNX embedder"):
        create_backend("onnx", embedder="sface-2021dec")  # removed: never obtainable here, never calibrated
    with pytest.raises(ConfigurationError, match="threads"):
        create_backend("onnx", embedder=MODEL, threads=0)
    # A model that is nowhere (no cache, no mirror): a clear message says how to get it.
    monkeypatch.setenv("LETHE_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("LETHE_MODEL_MIRROR", str(tmp_path))
    with pytest.raises(ConfigurationError, match="lethe models fetch"):
        create_backend("onnx", embedder=MODEL)


def test_defaults_come_from_the_kiosk_settings(data_mirror: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LETHE_KIOSK_ONNX_EMBEDDER", MODEL)
    monkeypatch.setenv("LETHE_KIOSK_ONNX_THREADS", "2")
    backend = create_backend("onnx")
    assert isinstance(backend, OnnxEmbedder)
    assert (backend.model_id, backend.threads) == (MODEL, 2)
    monkeypatch.setenv("LETHE_KIOSK_ONNX_THREADS", "0")
    with pytest.raises(ConfigurationError, match="ONNX_THREADS"):
        create_backend("onnx")
