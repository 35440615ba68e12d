"""dlib's 68-point model run in NumPy (edge/shape_predictor.py) against dlib itself, on recorded video.

The frames are those of ``lethe bench kiosk``: live.mov centre-cropped and
resized to 640×480, faces found by YuNet on a 320-px copy, as the ONNX kiosk
sees them. Measured there (2026-12-02): 161 of the 199 faces get exactly dlib's
68 points, the others differ by at most 5 px somewhere; the quality gate judges
198 of the 199 frames the same (frame 118, not frontal with dlib's points, is
good with these), and every challenge passes or fails on the same frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.backends import create_backend
from edge.backends.dlib_chip import predictor_box
from edge.challenge import ChallengeDetector, Observation
from edge.errors import ConfigurationError
from edge.landmarks import DLIB_68, measure
from edge.quality import Detector, QualityGate
from edge.settings import KioskSettings
from edge.shape_predictor import ShapePredictor
from edge.sources import VideoFileSource
from lethe.bench.kiosk import to_640x480
from models import model_path
from tests.edge.fresh_python import check_in_fresh_python


@pytest.fixture(scope="module")
def model_file(data_mirror: Path) -> Path:
    return model_path("dlib-shape-predictor-68")


@pytest.fixture(scope="module")
def predictor(model_file: Path) -> ShapePredictor:
    return ShapePredictor.from_dlib(model_file)


def test_the_model_is_read_whole_in_half_dlibs_memory(predictor: ShapePredictor) -> None:
    assert predictor.initial.shape == (68, 2)
    assert predictor.anchors.shape == (15, 500)  # 15 levels sampling 500 pixels each
    assert predictor.leaves.shape == (15, 500 * 16, 136)  # 500 trees of 16 leaves per level
    assert predictor.depth == 4
    held = sum(a.nbytes for a in vars(predictor).values() if isinstance(a, np.ndarray))
    assert held < 36 * 2**20  # dlib holds the same leaves as float32: 65 MB


def test_landmarks_and_the_gate_agree_with_dlib_on_recorded_video(
    predictor: ShapePredictor, model_file: Path, testdata: Path
) -> None:
    import dlib

    reference = dlib.shape_predictor(str(model_file))
    settings = KioskSettings()
    gate = QualityGate(
        min_face_px=settings.min_face_px,
        min_sharpness=settings.min_sharpness,
        min_inter_eye_px=settings.min_inter_eye_px,
        max_pose_deg=settings.max_pose_deg,
    )
    detect = Detector(create_backend("onnx", embedder="mobilefacenet-112", threads=1), max_width=320, upsample=0)
    same = differ = faces = 0
    worst = 0.0
    seen: dict[str, list[Observation]] = {"dlib": [], "numpy": []}
    with VideoFileSource(testdata / "video/live_vs_replay_a/live.mov") as source:
        for frame in source.frames():
            image = to_640x480(frame.image)
            found = detect(image)
            if len(found) != 1:
                continue
            faces += 1
            box = predictor_box(found[0])
            parts = reference(np.ascontiguousarray(image[:, :, ::-1]), dlib.rectangle(*box)).parts()
            theirs = np.array([(p.x, p.y) for p in parts], dtype=np.float64)
            ours = predictor.points(image, box)
            same += bool((ours == theirs).all())
            worst = max(worst, float(np.abs(ours - theirs).max()))
            verdicts = []
            for name, points in (("dlib", theirs), ("numpy", ours)):
                geometry = measure(points, DLIB_68, image.shape[1], image.shape[0])
                verdicts.append(gate.assess(image, found, geometry).reason)
                seen[name].append(Observation(frame.index, geometry.eye_aspect_ratio, geometry.yaw_deg))
            differ += verdicts[0] != verdicts[1]
    assert faces > 190
    assert same >= 0.75 * faces
    assert worst <= 6
    assert differ <= 2
    for challenge in ("blink", "turn-left", "turn-right"):
        outcomes = []
        for observations in seen.values():
            detector = ChallengeDetector(challenge)
            outcomes.append(next((o.index for o in observations if detector.observe(o)), None))
        assert outcomes[0] == outcomes[1], challenge


def test_a_file_that_is_not_the_model_is_refused(model_file: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.dat"
    with model_file.open("rb") as f:
        cut.write_bytes(f.read(2 << 20))
    with pytest.raises(ConfigurationError, match="dlib shape predictor"):
        ShapePredictor.from_dlib(cut)
    other = tmp_path / "other.dat"
    other.write_bytes(b"\x01\x02" + cut.read_bytes()[2:])
    with pytest.raises(ConfigurationError, match="format version"):
        ShapePredictor.from_dlib(other)


def test_the_onnx_kiosk_never_loads_dlib(data_mirror: Path) -> None:
    """Not even with its default embedder, dlib's ResNet in ONNX (its 5-point landmarks run in NumPy)."""
    check = (
        "import sys\n"
        "from edge.backends import create_backend\n"
        "from edge.landmarks import LandmarkModel\n"
        "create_backend('onnx', threads=1)\n"
        "LandmarkModel()\n"
        "assert 'dlib' not in sys.modules and 'face_recognition' not in sys.modules, sorted(sys.modules)\n"
    )
    check_in_fresh_python(check, data_mirror)
