"""The dlib backend: dlib's HOG detector, its 5-point landmarks and its 128-d ResNet, through dlib itself.

dlib is imported only inside :class:`DlibEmbedder`, after the two model files
it loads are checked against the manifest's SHA-256. (face_recognition is not
used here: importing it loads every dlib model it knows, among them the
68-point landmarks, whose training data's licence excludes commercial use.)
The HOG detector's filters are compiled into dlib (Boost Software License).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from edge.backends import FaceBox, RGBImage, register
from edge.errors import ConfigurationError
from models import ModelError, model_path

MODEL_ID = "dlib-resnet-v1"
REQUIRED = ("dlib-resnet-v1", "dlib-shape-predictor-5")
# The chip dlib's ResNet was trained on: 150x150 px, the 5-point shape mapped to dlib's template
# with a quarter of the face's size as margin.
CHIP_SIZE = 150
CHIP_PADDING = 0.25
PIPELINE = "5-point chip 150/0.25, chip + mirror"


def unit_sum(vectors: list[npt.NDArray[Any]]) -> npt.NDArray[np.float64]:
    """The sum of the unit vectors of ``vectors``: how both backends join a chip's and its mirror's embeddings."""
    return np.asarray(sum(np.asarray(v, np.float64) / np.linalg.norm(v) for v in vectors), dtype=np.float64)


class DlibEmbedder:
    model_id = MODEL_ID
    pipeline = PIPELINE
    detect_width = 640  # HOG finds faces from about 80 px wide at upsample 0
    # Each fused frame is two ResNet passes (chip and mirror, ~150 ms each on one core here): three frames keep
    # the first good frame -> envelope time at about 1.6 s, five took 2.2-2.3 s against the kiosk's 2.0-s goal.
    frames_to_fuse = 3

    def __init__(self) -> None:
        try:
            resnet, landmarks = (model_path(name) for name in REQUIRED)
        except ModelError as exc:
            raise ConfigurationError(str(exc)) from None
        import dlib

        self._dlib: Any = dlib
        self._detector: Any = dlib.get_frontal_face_detector()
        self._shape_predictor: Any = dlib.shape_predictor(str(landmarks))
        self._encoder: Any = dlib.face_recognition_model_v1(str(resnet))

    def detect(self, rgb: RGBImage, *, upsample: int = 0) -> list[FaceBox]:
        """HOG faces in ``rgb``, cut to the image (as face_recognition's ``face_locations`` gives them)."""
        height, width = rgb.shape[:2]
        return [
            FaceBox(max(r.left(), 0), max(r.top(), 0), min(r.right(), width), min(r.bottom(), height))
            for r in self._detector(rgb, upsample)
        ]

    def chip(self, rgb: RGBImage, face: FaceBox) -> RGBImage:
        """The aligned 150×150 face chip of ``face``: dlib's 5-point shape in the box, rotated upright and scaled."""
        shape = self._shape_predictor(rgb, self._dlib.rectangle(face.left, face.top, face.right, face.bottom))
        return np.asarray(self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING))

    def embed(self, rgb: RGBImage, face: FaceBox, *, jitters: int = 1) -> npt.NDArray[np.float64]:
        """The sum of the unit embeddings of the face's chip and of its mirror image.

        A face and its mirror image are the same person, but the ResNet maps them
        to slightly different points (cosine about 0.99); their mean is less
        sensitive to which way the head is turned and to light from one side. On
        LFW folds 1-5 it makes 35 errors in 3,000 pairs where the chip alone
        makes 50 (10-fold accuracy 98.83% against 98.33%, docs/evaluation.md),
        for a second ResNet pass: about 100 ms of one core per face on the
        kiosk's CPU.

        With ``jitters`` ≥ 2 each of the two is the mean of that many randomly
        jittered copies (dlib's jitter: a shift and scale of 1-3%, a rotation of
        up to 3°, and a mirror flip for half of them), so it costs 2·``jitters``
        passes and is no longer deterministic; worth it for the one ID portrait
        of a check-in, not per frame.
        """
        chip = self.chip(rgb, face)
        mirror = np.ascontiguousarray(chip[:, ::-1])
        # One call per view: dlib's batch call gives the same vectors, no faster, and slower with jitters.
        num_jitters = jitters if jitters >= 2 else 0
        return unit_sum([self._encoder.compute_face_descriptor(view, num_jitters) for view in (chip, mirror)])


@register("dlib")
def _create() -> DlibEmbedder:
    return DlibEmbedder()
