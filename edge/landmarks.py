"""Facial landmarks and what the kiosk measures from them: head pose, open eyes, blinks, turns.

The default model is MediaPipe's face landmark model (468 points, Apache-2.0,
``mediapipe-face-landmark`` in the manifest), run by the LiteRT interpreter
(``ai-edge-litert``) on a square crop around the detected face: the face's
box made square about the eyes and mouth (:func:`~edge.backends.dlib_chip.predictor_box`),
enlarged 1.5 times and turned so that the detector's eyes are level, as
MediaPipe crops it from its own face detector. About 3 ms per face on one core.
Both backends use it: the quality gate reads head pose and whether the eyes
are open from it, and the active challenge reads blinks and head turns from it
over time.

dlib's 68-point model (``LETHE_KIOSK_LANDMARKS=dlib-68``, run in NumPy by
:mod:`edge.shape_predictor`) stays for comparison only: it was trained on
iBUG 300-W, whose licence excludes commercial use, so the default
configuration never loads it.

Conventions: ``yaw_deg`` is positive when the guest turns to *their* left
(the nose moves towards the right of an unmirrored camera image; checked on
recorded video). Yaw and pitch are estimated by fitting a generic 3-D face to
six landmarks (``cv2.solvePnP``) with a focal length of one image width: coarse
(frame-to-frame noise of several degrees for yaw and more for pitch on a 540p
webcam video), so the gate uses generous limits and the turn challenge
measures the change from the guest's own starting pose. The sign of pitch is
not verified on data; only its magnitude is used.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, cast

import cv2
import numpy as np
import numpy.typing as npt

from edge.backends import FaceBox
from edge.backends.dlib_chip import predictor_box
from edge.errors import ConfigurationError
from edge.shape_predictor import ShapePredictor
from edge.sources import Image
from models import ModelError, model_path

Points = npt.NDArray[np.float64]
LANDMARK_MODELS = ("mediapipe-face-mesh", "dlib-68")
MESH_INPUT = 192
MESH_CROP_SCALE = 1.5  # MediaPipe's face_detection_front_detection_to_roi
# The mesh's face-presence logit below which its fit is not trusted. Frontal and half-turned faces in the
# test videos read 12-32; the fits that put a strongly turned face at 20 degrees, or flip its yaw's sign,
# read 3 and less (ensemble clip frames 40-41, live.mov frames 122 and 159).
MESH_MIN_PRESENCE = 5.0
# A generic face in millimetre-like units (x right, y up, z towards the camera): nose tip, chin,
# outer corner of the guest's right eye, of their left eye, right and left mouth corners.
_MODEL_3D = np.array(
    [
        (0.0, 0.0, 0.0),
        (0.0, -330.0, -65.0),
        (-225.0, 170.0, -135.0),
        (225.0, 170.0, -135.0),
        (-150.0, -150.0, -125.0),
        (150.0, -150.0, -125.0),
    ]
)


@dataclass(frozen=True)
class Layout:
    """Which landmarks of a model are which: six per eye (Soukupová and Čech's order) and the six pose points."""

    right_eye: tuple[int, ...]  # the guest's right eye: the left one in the image
    left_eye: tuple[int, ...]
    pose: tuple[int, ...]  # in _MODEL_3D's order
    closed_ear: float
    """The EAR below which the eyes count as closed: each model draws the lids its own way."""


# dlib: open eyes read 0.25-0.35.
DLIB_68 = Layout(
    right_eye=(36, 37, 38, 39, 40, 41), left_eye=(42, 43, 44, 45, 46, 47), pose=(30, 8, 36, 45, 48, 54), closed_ear=0.15
)
# MediaPipe's canonical face mesh (eye corners and lids, nose tip, chin, mouth corners): its lid points sit
# closer together, open eyes read 0.19-0.25 on the test videos and portraits, and blinks 0.09-0.13.
FACE_MESH = Layout(
    right_eye=(33, 160, 158, 133, 153, 144),
    left_eye=(263, 387, 385, 362, 380, 373),
    pose=(1, 152, 33, 263, 61, 291),
    closed_ear=0.11,
)


def eye_aspect_ratio(eye: Points) -> float:
    """Soukupová and Čech's EAR of six eye points: about 0.25–0.35 open, under 0.15 closed."""
    vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    horizontal = 2.0 * np.linalg.norm(eye[0] - eye[3])
    return float(vertical / horizontal) if horizontal > 0 else 0.0


@dataclass(frozen=True)
class FaceGeometry:
    """Measurements of one face from its landmarks (no image data)."""

    inter_eye_px: float
    eye_aspect_ratio: float
    yaw_deg: float
    pitch_deg: float
    eyes_closed: bool = False
    trusted: bool = True
    """False when the landmark model doubts its own fit (a face turned too far): not a frontal face."""


def measure(
    points: Points, layout: Layout, image_width: int, image_height: int, *, trusted: bool = True
) -> FaceGeometry:
    """Inter-eye distance (between eye centres, px), mean EAR of both eyes, head yaw and pitch, closed eyes."""
    right_eye, left_eye = points[list(layout.right_eye)], points[list(layout.left_eye)]
    ear = (eye_aspect_ratio(right_eye) + eye_aspect_ratio(left_eye)) / 2
    inter_eye = float(np.linalg.norm(left_eye.mean(axis=0) - right_eye.mean(axis=0)))
    yaw, pitch = head_pose(points[list(layout.pose)], image_width, image_height)
    return FaceGeometry(inter_eye, ear, yaw, pitch, ear < layout.closed_ear, trusted)


def head_pose(pose_points: Points, image_width: int, image_height: int) -> tuple[float, float]:
    """(yaw, pitch) in degrees from a generic 3-D face fitted to the six pose landmarks."""
    image_points = np.ascontiguousarray(pose_points, dtype=np.float64)
    focal = float(image_width)
    camera = np.array([[focal, 0, image_width / 2], [0, focal, image_height / 2], [0, 0, 1]], dtype=np.float64)
    ok, rvec, _ = cv2.solvePnP(_MODEL_3D, image_points, camera, np.zeros(4), flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return 0.0, 0.0
    rotation, _ = cv2.Rodrigues(rvec)
    # The model's y axis points up and the image's down: flip y and z to read angles in the guest's frame.
    r = np.diag([1.0, -1.0, -1.0]) @ rotation @ np.diag([1.0, -1.0, -1.0])
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -r[2, 0]))))
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    # The fit may land on the mirror solution (the face seen from behind): fold pitch back to [-90, 90].
    if pitch > 90:
        pitch -= 180
    elif pitch < -90:
        pitch += 180
    return yaw, pitch


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Point file descriptor 2 at a pipe for the duration and drop what arrives (native libraries write there).

    A pipe rather than /dev/null: the kiosk opens no file for writing, not even
    that one (tests/integration/test_kiosk_privacy.py).
    """
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # a full pipe drops the rest instead of blocking
    try:
        os.dup2(write_end, 2)
        yield
    finally:
        os.dup2(saved, 2)
        for fd in (saved, read_end, write_end):
            os.close(fd)


class _Predictor(Protocol):
    layout: Layout

    def fit(self, bgr: Image, face: FaceBox) -> tuple[Points, bool]:
        """The landmarks, and whether the model trusts them."""
        ...


class FaceMesh:
    """MediaPipe's 468-point face landmark model in the LiteRT interpreter, on one thread."""

    layout = FACE_MESH

    def __init__(self) -> None:
        try:
            path = model_path("mediapipe-face-landmark")
            from ai_edge_litert.interpreter import Interpreter
        except ModelError as exc:
            raise ConfigurationError(str(exc)) from None
        except ImportError:
            raise ConfigurationError("ai-edge-litert is not installed: pip install ai-edge-litert") from None
        with _quiet_stderr():  # LiteRT announces its XNNPACK delegate (6x faster here than without) on stderr
            self._interpreter: Any = Interpreter(model_path=str(path), num_threads=1)
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        self._landmarks = next(o["index"] for o in outputs if o["shape"][-1] == 3 * 468)
        self._presence = next(o["index"] for o in outputs if o["shape"][-1] == 1)

    def crop_matrix(self, face: FaceBox) -> npt.NDArray[np.float64]:
        """The 2×3 affine map from the image to the model's 192×192 input for ``face``."""
        left, top, right, bottom = predictor_box(face)
        centre = np.array([(left + right) / 2, (top + bottom) / 2])
        side = MESH_CROP_SCALE * max(right - left, bottom - top)
        angle = 0.0
        if face.points is not None:  # level the detector's eyes (image-left eye, then the other)
            (x0, y0), (x1, y1) = face.points[0], face.points[1]
            angle = math.atan2(y1 - y0, x1 - x0)
        scale = MESH_INPUT / side
        cos, sin = math.cos(-angle) * scale, math.sin(-angle) * scale
        rotation = np.array([[cos, -sin], [sin, cos]])
        matrix = np.zeros((2, 3))
        matrix[:, :2] = rotation
        matrix[:, 2] = MESH_INPUT / 2 - rotation @ centre
        return matrix

    def fit(self, bgr: Image, face: FaceBox) -> tuple[Points, bool]:
        """The 468 landmarks of ``face`` in ``bgr`` (full-resolution pixels), (468, 2), and whether to trust them."""
        matrix = self.crop_matrix(face)
        crop = cv2.warpAffine(bgr, matrix, (MESH_INPUT, MESH_INPUT), flags=cv2.INTER_LINEAR)
        tensor = (crop[:, :, ::-1].astype(np.float32) / 255.0)[np.newaxis]
        self._interpreter.set_tensor(self._input, np.ascontiguousarray(tensor))
        self._interpreter.invoke()
        mesh = self._interpreter.get_tensor(self._landmarks).reshape(-1, 3)[:, :2].astype(np.float64)
        inverse = cv2.invertAffineTransform(matrix)
        presence = float(self._interpreter.get_tensor(self._presence).ravel()[0])
        return cast(Points, mesh @ inverse[:, :2].T + inverse[:, 2]), presence >= MESH_MIN_PRESENCE


class Dlib68:
    """dlib's 68-point shape predictor in NumPy: for comparison only (its licence excludes commercial use)."""

    layout = DLIB_68

    def __init__(self) -> None:
        try:
            path = model_path("dlib-shape-predictor-68")
        except ModelError as exc:
            raise ConfigurationError(str(exc)) from None
        self._predictor = ShapePredictor.from_dlib(path)

    def fit(self, bgr: Image, face: FaceBox) -> tuple[Points, bool]:
        return self._predictor.points(bgr, predictor_box(face)), True


class LandmarkModel:
    """The landmark model the kiosk measures faces with (``LETHE_KIOSK_LANDMARKS``)."""

    def __init__(self, name: str = "mediapipe-face-mesh") -> None:
        if name not in LANDMARK_MODELS:
            raise ConfigurationError(f"unknown landmark model {name!r}; known: {', '.join(LANDMARK_MODELS)}")
        self.name = name
        self._model: _Predictor = FaceMesh() if name == "mediapipe-face-mesh" else Dlib68()

    @property
    def layout(self) -> Layout:
        return self._model.layout

    def points(self, bgr: Image, face: FaceBox) -> Points:
        """The landmarks of ``face`` in ``bgr`` (full-resolution pixels), shape (N, 2)."""
        return self._model.fit(bgr, face)[0]

    def geometry(self, bgr: Image, face: FaceBox) -> FaceGeometry:
        height, width = bgr.shape[:2]
        points, trusted = self._model.fit(bgr, face)
        return measure(points, self.layout, width, height, trusted=trusted)
