"""dlib's aligned face chip without dlib: its 5-point landmarks in NumPy and its chip geometry in OpenCV.

dlib's ResNet was trained on chips cut by ``dlib::get_face_chip``: the five
points of dlib's 5-point shape predictor (CC0) mapped onto a fixed template by
a least-squares similarity, 150×150 px with a quarter of the face's size as
margin. The ONNX backend runs dlib's ResNet, so it cuts the same chip: the
predictor runs in NumPy (:mod:`edge.shape_predictor`) on a HOG-like box made
from YuNet's, and the chip is sampled the way ``dlib::extract_image_chips``
does it (bilinear, after halving the image while the chip would be less than
half its size). The halving uses OpenCV's Gaussian pyramid, not dlib's own
filter, so chips of large faces differ from dlib's in the last grey levels;
templates agree with the dlib backend's to a cosine of about 0.99 on the same
face (docs/evaluation.md).
"""

from __future__ import annotations

import math
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from edge.backends import FaceBox, RGBImage
from edge.errors import ConfigurationError
from edge.shape_predictor import ShapePredictor
from models import ModelError, model_path

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# dlib's get_face_chip_details: where the five points of the 5-point predictor sit in the unit square of a face.
TEMPLATE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)
# dlib's predictors were trained on the boxes of dlib's HOG detector: square, from the brows to the
# chin. YuNet's boxes are taller (about 0.73 wide for 1 high, with the forehead), and a predictor
# fitted to them puts the landmarks off the face. A face with five detector landmarks gets a HOG-like
# box instead: centred midway between the eyes' centre and the mouth's, its side this share of the
# detector box's mean side. Fitted on 124 faces that both detectors found (recorded videos and
# portraits in the test data): centre within 5% of the side (median), side within 6%.
HOG_BOX_SIDE = 0.9


def predictor_box(face: FaceBox) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of the box to give a dlib shape predictor for ``face``."""
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


def similarity_transform(src: npt.NDArray[np.float64], dst: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The 2×3 similarity (rotation, uniform scale, translation) that best maps ``src`` onto ``dst``.

    Least squares in the sense of Umeyama (1991), as dlib's
    ``find_similarity_transform`` and ArcFace-style alignment estimate it; no
    reflection is allowed.
    """
    n = src.shape[0]
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / n
    u, s, vt = np.linalg.svd(covariance)
    d = np.ones(2)
    if np.linalg.det(covariance) < 0:
        d[1] = -1.0
    rotation = u @ np.diag(d) @ vt
    variance = (src_c**2).sum() / n
    scale = float((s * d).sum() / variance) if variance > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def chip_corners(
    points: npt.NDArray[np.float64], size: int = CHIP_SIZE, padding: float = CHIP_PADDING
) -> npt.NDArray[np.float64]:
    """Where the chip's top-left, top-right and bottom-left pixels fall in the image (3×2), as dlib places them.

    dlib keeps the similarity's angle and scale but rebuilds the chip as a
    rotated rectangle of ``size × scale`` pixels around the image of the chip's
    centre, whose corners map onto the chip's corner pixels (0 and size − 1).
    """
    template = (padding + TEMPLATE) / (2 * padding + 1) * size
    matrix = similarity_transform(template, points)
    along = matrix[:, 0]
    angle, scale = math.atan2(along[1], along[0]), float(np.hypot(*along))
    centre = matrix @ np.array([size / 2, size / 2, 1.0])
    half = (size * scale - 1) / 2  # dlib's centered_drect: a rectangle of w pixels spans w - 1
    corners = np.array([[-half, -half], [half, -half], [-half, half]])
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return cast(npt.NDArray[np.float64], corners @ turn.T + centre)


def extract_chip(rgb: RGBImage, points: npt.NDArray[np.float64], size: int = CHIP_SIZE) -> RGBImage:
    """The ``size``×``size`` chip of the face whose 5-point landmarks are ``points`` (dlib's order)."""
    corners = chip_corners(points, size)
    side = float(np.linalg.norm(corners[1] - corners[0]))
    # Halve the image while the chip is still less than half the region it covers (dlib's rule), around
    # the region only: the pyramid of a whole HD frame would cost more than the ResNet.
    halvings = 0
    while side / 2 ** (halvings + 1) > size:
        halvings += 1
    image = rgb
    if halvings:
        margin = 2 ** (halvings + 1) + 2
        far = corners[1] + corners[2] - corners[0]
        box = np.vstack([corners, far])
        height, width = rgb.shape[:2]
        left, top = (max(0, math.floor(v) - margin) for v in box.min(axis=0))
        right = min(width, math.ceil(box[:, 0].max()) + margin)
        bottom = min(height, math.ceil(box[:, 1].max()) + margin)
        image = rgb[top:bottom, left:right]
        corners = corners - (left, top)
        for _ in range(halvings):
            image = cast(RGBImage, cv2.pyrDown(image))
        corners = corners / 2**halvings
    chip_points = np.array([[0, 0], [size - 1, 0], [0, size - 1]], np.float32)
    matrix = cv2.getAffineTransform(chip_points, corners.astype(np.float32))
    chip = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT
    )
    return cast(RGBImage, chip)


class FivePointChipper:
    """dlib's 5-point shape predictor (in NumPy) and dlib's chip geometry, for backends without dlib."""

    def __init__(self) -> None:
        try:
            path = model_path("dlib-shape-predictor-5")
        except ModelError as exc:
            raise ConfigurationError(str(exc)) from None
        self._predictor = ShapePredictor.from_dlib(path)

    def points(self, rgb: RGBImage, face: FaceBox) -> npt.NDArray[np.float64]:
        """dlib's five landmarks of ``face`` (two eye corners each, then the nose base), whole pixels."""
        return self._predictor.points(rgb, predictor_box(face))

    def chip(self, rgb: RGBImage, face: FaceBox) -> RGBImage:
        return extract_chip(rgb, self.points(rgb, face))
