"""Detection on a downscaled frame, and the per-frame quality gate.

The gate measures, for the one face in a frame: its width in full-resolution
pixels, its sharpness (variance of the Laplacian of the grey face crop) and its
mean brightness. A refused frame carries a reason the kiosk turns into guidance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from edge.backends import Embedder, FaceBox
from edge.sources import Image

GUIDANCE = {
    "no-face": "Please look at the camera.",
    "multiple-faces": "One person at a time, please.",
    "face-too-small": "Please come closer.",
    "too-blurry": "Please hold still.",
    "too-dark": "More light, please.",
    "too-bright": "Too much light behind or on you.",
}
MIN_BRIGHTNESS = 40.0
MAX_BRIGHTNESS = 220.0


@dataclass(frozen=True)
class FaceQuality:
    face: FaceBox
    width_px: int
    sharpness: float
    brightness: float

    @property
    def score(self) -> float:
        """A ranking score in [0, 1]: larger and sharper faces rank first."""
        return min(1.0, self.width_px / 160.0) * min(1.0, self.sharpness / 150.0)


@dataclass(frozen=True)
class Verdict:
    reason: str | None
    quality: FaceQuality | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


class Detector:
    """Finds faces on a copy of the frame scaled to at most ``max_width``; boxes come back in full-resolution pixels."""

    def __init__(self, backend: Embedder, *, max_width: int, upsample: int) -> None:
        self._backend = backend
        self._max_width = max_width
        self._upsample = upsample

    def __call__(self, bgr: Image) -> list[FaceBox]:
        height, width = bgr.shape[:2]
        scale = min(1.0, self._max_width / width)
        small = bgr
        if scale < 1.0:
            size = (round(width * scale), round(height * scale))
            small = cast(Image, cv2.resize(bgr, size, interpolation=cv2.INTER_AREA))
        rgb = np.ascontiguousarray(small[:, :, ::-1])
        return [f.scaled(1 / scale).clipped(width, height) for f in self._backend.detect(rgb, upsample=self._upsample)]


class QualityGate:
    def __init__(self, *, min_face_px: int, min_sharpness: float) -> None:
        self.min_face_px = min_face_px
        self.min_sharpness = min_sharpness

    def assess(self, bgr: Image, faces: list[FaceBox]) -> Verdict:
        if not faces:
            return Verdict("no-face")
        if len(faces) > 1:
            return Verdict("multiple-faces")
        face = faces[0]
        crop = cv2.cvtColor(bgr[face.top : face.bottom, face.left : face.right], cv2.COLOR_BGR2GRAY)
        if crop.size == 0:
            return Verdict("no-face")
        quality = FaceQuality(
            face=face,
            width_px=face.width,
            sharpness=float(cv2.Laplacian(crop, cv2.CV_64F).var()),
            brightness=float(crop.mean()),
        )
        if quality.width_px < self.min_face_px:
            return Verdict("face-too-small", quality)
        if quality.brightness < MIN_BRIGHTNESS:
            return Verdict("too-dark", quality)
        if quality.brightness > MAX_BRIGHTNESS:
            return Verdict("too-bright", quality)
        if quality.sharpness < self.min_sharpness:
            return Verdict("too-blurry", quality)
        return Verdict(None, quality)
