"""Facial landmarks (dlib's 68 points) and what the kiosk measures from them.

The same 68-point model serves every backend: the quality gate reads head pose
and whether the eyes are open from it, and the active liveness challenge reads
blinks and head turns from it over time. Loaded (hash-checked, from the model
manifest) when :class:`LandmarkModel` is built; about 2 ms per face. The dlib
backend has dlib's own copy in memory already (face_recognition loads it) and
uses that; any other backend runs the same model in NumPy
(:mod:`edge.shape_predictor`), in half the memory and without loading dlib.

Conventions: ``yaw_deg`` is positive when the guest turns to *their* left
(the nose moves towards the right of an unmirrored camera image; checked on
recorded video). Yaw and pitch are estimated by fitting a generic 3-D face to
six landmarks (``cv2.solvePnP``) with a focal length of one image width: coarse
(frame-to-frame noise of several degrees for yaw and up to ±20° for pitch on a
540p webcam video), so the gate uses generous limits and the turn challenge
measures the change from the guest's own starting pose. The sign of pitch is
not verified on data; only its magnitude is used.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from edge.backends import FaceBox
from edge.errors import ConfigurationError
from edge.shape_predictor import ShapePredictor
from edge.sources import Image
from models import ModelError, model_path

Points = npt.NDArray[np.float64]

# dlib 68-point indices.
JAW = slice(0, 17)
RIGHT_EYE = slice(36, 42)  # the guest's right eye: the left one in the image
LEFT_EYE = slice(42, 48)
_POSE_POINTS = (30, 8, 36, 45, 48, 54)  # nose tip, chin, outer eye corners, mouth corners
# A generic face in millimetre-like units, same order (x right, y up, z towards the camera).
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


def measure(points: Points, image_width: int, image_height: int) -> FaceGeometry:
    """Inter-eye distance (between eye centres, px), mean EAR of both eyes, and head yaw and pitch."""
    right_eye, left_eye = points[RIGHT_EYE], points[LEFT_EYE]
    ear = (eye_aspect_ratio(right_eye) + eye_aspect_ratio(left_eye)) / 2
    inter_eye = float(np.linalg.norm(left_eye.mean(axis=0) - right_eye.mean(axis=0)))
    yaw, pitch = head_pose(points, image_width, image_height)
    return FaceGeometry(inter_eye, ear, yaw, pitch)


def head_pose(points: Points, image_width: int, image_height: int) -> tuple[float, float]:
    """(yaw, pitch) in degrees from a generic 3-D face fitted to six landmarks."""
    image_points = np.ascontiguousarray(points[list(_POSE_POINTS)], dtype=np.float64)
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


# dlib's predictor was trained on the boxes of dlib's HOG detector: square, from the brows to the
# chin. YuNet's boxes are taller (about 0.73 wide for 1 high, with the forehead), and the predictor
# fitted to them puts the landmarks off the face (most frames then read as "not frontal"). A face
# with five detector landmarks gets a HOG-like box instead: centred midway between the eyes' centre
# and the mouth's, its side this share of the detector box's mean side. Fitted on 124 faces that
# both detectors found (recorded videos and portraits in the test data): centre within 5% of the
# side (median), side within 6%.
HOG_BOX_SIDE = 0.9


def predictor_box(face: FaceBox) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of the box to give the 68-point predictor for ``face``."""
    if face.points is None:  # a HOG box already
        return face.left, face.top, face.right, face.bottom
    points = np.asarray(face.points, dtype=np.float64)
    centre = (points[:2].mean(axis=0) + points[3:5].mean(axis=0)) / 2
    half = HOG_BOX_SIDE * (face.width + face.height) / 4
    return (
        round(centre[0] - half),
        round(centre[1] - half),
        round(centre[0] + half),
        round(centre[1] + half),
    )


class LandmarkModel:
    """dlib's 68-point shape predictor: dlib's own when the dlib backend has loaded it, else in NumPy."""

    def __init__(self) -> None:
        try:
            path = model_path("dlib-shape-predictor-68")
        except ModelError as exc:
            raise ConfigurationError(str(exc)) from None
        # The dlib backend's face_recognition has already loaded this very file (hash-checked by the
        # backend too): share it rather than hold a second copy. Without it, dlib is never imported.
        self._dlib: Any = sys.modules.get("dlib")
        self._predictor: Any = getattr(sys.modules.get("face_recognition.api"), "pose_predictor_68_point", None)
        self._numpy = ShapePredictor.from_dlib(path) if self._predictor is None else None

    def points(self, bgr: Image, face: FaceBox) -> Points:
        """The 68 landmarks of ``face`` in ``bgr`` (full-resolution pixels, rounded), shape (68, 2)."""
        if self._numpy is not None:
            return self._numpy.points(bgr, predictor_box(face))
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        shape = self._predictor(rgb, self._dlib.rectangle(*predictor_box(face)))
        return cast(Points, np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64))

    def geometry(self, bgr: Image, face: FaceBox) -> FaceGeometry:
        height, width = bgr.shape[:2]
        return measure(self.points(bgr, face), width, height)
