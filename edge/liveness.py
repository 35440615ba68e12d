"""Passive liveness (presentation-attack detection) with the Silent-Face MiniFASNet models.

Two small CNNs look at the face together with its surroundings: MiniFASNetV2 at
2.7 times the face box and MiniFASNetV1SE at 4.0 times, each resized to 80×80
BGR with values 0–255. Each gives three logits; softmax class 1 is "live". The
kiosk's passive score is the mean of the two models' P(live), in [0, 1]. The
context matters: a phone or a printed photo shows its edges, bezel or moiré
around the face, so the models need the scene around the box, not a tight face
crop (see docs/evaluation.md, "Liveness").

The models are loaded through onnxruntime, on one thread by default, from the
model manifest (hash-checked), when :class:`PassiveLiveness` is built.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np

from edge.backends import FaceBox
from edge.errors import ConfigurationError
from edge.ort import session
from edge.sources import Image
from models import ModelError, model_path

INPUT_SIZE = 80
LIVE_CLASS = 1
MODEL_NAME = "minifasnet-v2+v1se"
# (manifest entry, crop scale around the face box)
PASSIVE_MODELS: tuple[tuple[str, float], ...] = (("minifasnet-v2", 2.7), ("minifasnet-v1se", 4.0))
DEFAULT_THRESHOLD = 0.5


def context_box(face: FaceBox, scale: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The box ``scale`` times ``face`` about its centre, shifted (not cut) to stay inside the image.

    The scale shrinks when the image is too small to hold the scaled box, so the
    crop keeps the face's aspect ratio. Returns ``(left, top, right, bottom)``,
    right and bottom exclusive, in the image's pixels.
    """
    box_w, box_h = max(1, face.width), max(1, face.height)
    scale = min((height - 1) / box_h, (width - 1) / box_w, scale)
    new_w, new_h = box_w * scale, box_h * scale
    centre_x, centre_y = face.left + box_w / 2, face.top + box_h / 2
    left, top = centre_x - new_w / 2, centre_y - new_h / 2
    right, bottom = centre_x + new_w / 2, centre_y + new_h / 2
    if left < 0:
        right, left = right - left, 0.0
    if top < 0:
        bottom, top = bottom - top, 0.0
    if right > width - 1:
        left, right = left - (right - width + 1), width - 1.0
    if bottom > height - 1:
        top, bottom = top - (bottom - height + 1), height - 1.0
    return max(0, int(left)), max(0, int(top)), int(right) + 1, int(bottom) + 1


def context_crop(bgr: Image, face: FaceBox, scale: float) -> Image:
    """The model input for one scale: the context box resized to 80×80, still BGR uint8."""
    height, width = bgr.shape[:2]
    left, top, right, bottom = context_box(face, scale, width, height)
    return cast(Image, cv2.resize(bgr[top:bottom, left:right], (INPUT_SIZE, INPUT_SIZE)))


def _softmax(logits: np.ndarray[Any, np.dtype[np.float32]]) -> np.ndarray[Any, np.dtype[np.float64]]:
    shifted = np.exp(logits.astype(np.float64) - logits.max())
    return cast(np.ndarray[Any, np.dtype[np.float64]], shifted / shifted.sum())


class PassiveLiveness:
    """The two MiniFASNet models; :meth:`score` gives one face's P(live)."""

    name = MODEL_NAME

    def __init__(self, *, threads: int = 1) -> None:
        self._sessions: list[tuple[Any, str, float]] = []
        for name, scale in PASSIVE_MODELS:
            try:
                path = model_path(name)
            except ModelError as exc:
                raise ConfigurationError(str(exc)) from None
            model = session(str(path), threads=threads)
            self._sessions.append((model, model.get_inputs()[0].name, scale))

    def score(self, bgr: Image, face: FaceBox) -> float:
        """P(live) of ``face`` in the full-resolution BGR frame ``bgr``: the mean over both models."""
        total = 0.0
        for model, input_name, scale in self._sessions:
            crop = context_crop(bgr, face, scale)
            tensor = np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32)
            (logits,) = model.run(None, {input_name: tensor})
            total += float(_softmax(np.asarray(logits, dtype=np.float32)[0])[LIVE_CLASS])
        return total / len(self._sessions)


@dataclass(frozen=True)
class PassiveEvidence:
    """The passive result over several frames: the median P(live) and how many frames gave it."""

    score: float
    frames: int

    @classmethod
    def of(cls, scores: Iterable[float]) -> PassiveEvidence:
        values = list(scores)
        if not values:
            raise ValueError("no passive scores")
        return cls(statistics.median(values), len(values))

    def is_live(self, threshold: float = DEFAULT_THRESHOLD) -> bool:
        return self.score >= threshold
