"""Detection on a downscaled frame, and the per-frame quality gate.

The gate measures, in the spirit of ISO/IEC 29794-5, for the one face in a
frame: the number of faces, the inter-eye distance and face width in
full-resolution pixels, sharpness (variance of the Laplacian of the grey face
crop), exposure (mean grey level) and contrast (its standard deviation), head
yaw and pitch and whether the eyes are open from the face landmarks
(:mod:`edge.landmarks`); a face whose landmark fit the model doubts counts
as not frontal. A refused frame
carries a reason code; :data:`GUIDANCE` turns it into what the guest is told.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from edge.backends import Embedder, FaceBox
from edge.landmarks import FaceGeometry
from edge.sources import Image

GUIDANCE = {
    "no-face": "Please look at the camera.",
    "multiple-faces": "Only one person please: one face at a time.",
    "face-too-small": "Please come closer.",
    "too-blurry": "Please hold still.",
    "too-dark": "More light, please.",
    "too-bright": "Too much light behind or on you.",
    "low-contrast": "More light, please.",
    "not-frontal": "Please look at the camera.",
    "eyes-closed": "Please open your eyes and look at the camera.",
}
MIN_BRIGHTNESS = 40.0
MAX_BRIGHTNESS = 220.0
MIN_CONTRAST = 12.0


@dataclass(frozen=True)
class FaceQuality:
    """The measured components of one face (numbers only, no image data)."""

    face: FaceBox
    width_px: int
    sharpness: float
    brightness: float
    contrast: float = 0.0
    geometry: FaceGeometry | None = None

    @property
    def score(self) -> float:
        """A ranking score in [0, 1]: larger, sharper and more frontal faces rank first."""
        size = min(1.0, self.width_px / 160.0) * min(1.0, self.sharpness / 150.0)
        if self.geometry is None:
            return size
        return size * max(0.0, 1.0 - (abs(self.geometry.yaw_deg) + abs(self.geometry.pitch_deg)) / 90.0)


@dataclass(frozen=True)
class Verdict:
    reason: str | None
    quality: FaceQuality | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def guidance(self) -> str:
        return GUIDANCE[self.reason] if self.reason else ""


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
    """Accepts a frame for templating only when every measured component is within its limit."""

    def __init__(
        self, *, min_face_px: int, min_sharpness: float, min_inter_eye_px: float = 0.0, max_pose_deg: float = 90.0
    ) -> None:
        self.min_face_px = min_face_px
        self.min_sharpness = min_sharpness
        self.min_inter_eye_px = min_inter_eye_px
        self.max_pose_deg = max_pose_deg

    def assess(self, bgr: Image, faces: list[FaceBox], geometry: FaceGeometry | None = None) -> Verdict:
        """Judge one frame; ``geometry`` (from the landmarks of ``faces[0]``) adds the pose, eye and IED checks."""
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
            contrast=float(crop.std()),
            geometry=geometry,
        )
        return Verdict(self._reason(quality), quality)

    def _reason(self, q: FaceQuality) -> str | None:
        g = q.geometry
        if q.width_px < self.min_face_px or (g is not None and g.inter_eye_px < self.min_inter_eye_px):
            return "face-too-small"
        if q.brightness < MIN_BRIGHTNESS:
            return "too-dark"
        if q.brightness > MAX_BRIGHTNESS:
            return "too-bright"
        if q.contrast < MIN_CONTRAST:
            return "low-contrast"
        if g is not None and (not g.trusted or max(abs(g.yaw_deg), abs(g.pitch_deg)) > self.max_pose_deg):
            return "not-frontal"
        if g is not None and g.eyes_closed:
            return "eyes-closed"
        if q.sharpness < self.min_sharpness:
            return "too-blurry"
        return None
