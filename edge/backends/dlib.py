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


class DlibEmbedder:
    model_id = MODEL_ID
    detect_width = 640  # HOG finds faces from about 80 px wide at upsample 0

    def __init__(self) -> None:
        try:
            for name in REQUIRED:
                model_path(name)
        except ModelError as exc:
            raise ConfigurationError(str(exc)) from None
        import face_recognition

        self._fr: Any = face_recognition

    def detect(self, rgb: RGBImage, *, upsample: int = 0) -> list[FaceBox]:
        locations = self._fr.face_locations(rgb, number_of_times_to_upsample=upsample, model="hog")
        return [FaceBox(left, top, right, bottom) for (top, right, bottom, left) in locations]

    def embed(self, rgb: RGBImage, face: FaceBox, *, jitters: int = 1) -> npt.NDArray[np.float64]:
        location = (face.top, face.right, face.bottom, face.left)
        (encoding,) = self._fr.face_encodings(rgb, known_face_locations=[location], num_jitters=jitters, model="small")
        return np.asarray(encoding, dtype=np.float64)


@register("dlib")
def _create() -> DlibEmbedder:
    return DlibEmbedder()
