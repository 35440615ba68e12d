"""The dlib backend, through face_recognition: HOG detection and dlib's 128-d ResNet embedding.

face_recognition loads its models when imported, so this module imports it
only inside :class:`DlibEmbedder`, after checking every model file it will load
against the manifest's SHA-256.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from edge.backends import FaceBox, RGBImage, register
from edge.errors import ConfigurationError
from models import ModelError, model_path

MODEL_ID = "dlib-resnet-v1"
# Every file face_recognition loads at import time.
REQUIRED = ("dlib-resnet-v1", "dlib-shape-predictor-5", "dlib-shape-predictor-68", "dlib-mmod-detector")
# The chip dlib's ResNet was trained on (what face_recognition.face_encodings cuts): 150x150 px,
# the 5-point shape mapped to dlib's template with a quarter of the face's size as margin.
CHIP_SIZE = 150
CHIP_PADDING = 0.25


class DlibEmbedder:
    model_id = MODEL_ID
    pipeline = "5-point chip 150/0.25, chip + mirror"
    detect_width = 640  # HOG finds faces from about 80 px wide at upsample 0
    # Each fused frame is two ResNet passes (chip and mirror, ~150 ms each on one core here): three frames keep
    # the first good frame -> envelope time at about 1.6 s, five took 2.2-2.3 s against the kiosk's 2.0-s goal.
    frames_to_fuse = 3

    def __init__(self) -> None:
        try:
            for name in REQUIRED:
                model_path(name)
        except ModelError as exc:
            raise ConfigurationError(str(exc)) from None
        import dlib
        import face_recognition

        self._dlib: Any = dlib
        self._fr: Any = face_recognition
        # The two models face_recognition loaded at import (from the files checked above): use them
        # directly so the chip can be embedded twice without a second copy of either in memory.
        self._shape_predictor: Any = face_recognition.api.pose_predictor_5_point
        self._encoder: Any = face_recognition.api.face_encoder

    def detect(self, rgb: RGBImage, *, upsample: int = 0) -> list[FaceBox]:
        locations = self._fr.face_locations(rgb, number_of_times_to_upsample=upsample, model="hog")
        return [FaceBox(left, top, right, bottom) for (top, right, bottom, left) in locations]

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
        vectors = [np.asarray(self._encoder.compute_face_descriptor(view, num_jitters)) for view in (chip, mirror)]
        return np.asarray(sum(v / np.linalg.norm(v) for v in vectors), dtype=np.float64)


@register("dlib")
def _create() -> DlibEmbedder:
    return DlibEmbedder()
