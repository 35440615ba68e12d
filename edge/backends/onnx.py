"""The ONNX backend: YuNet detection, 5-point alignment to the ArcFace template, an ONNX embedder.

Detection runs in OpenCV (``cv2.FaceDetectorYN``), which gives a box and five
landmarks per face. The landmarks are mapped onto the standard 112×112 ArcFace
template by a least-squares similarity transform (Umeyama), and the aligned
crop goes through the embedder in onnxruntime. Both model files are checked
against the manifest's SHA-256 before they are loaded.

Two embedders share this interface (see models/manifest.toml): OpenCV's SFace
(``sface-2021dec``, the production model, fetched with ``lethe models fetch``)
and a MobileFaceNet (``mobilefacenet-112``, the one this machine's tests use).
They differ only in how pixels are scaled, which :data:`PREPROCESSING` records.

``threads`` bounds onnxruntime's intra-op pool and OpenCV's pool (the latter is
process-wide); 1 is the kiosk's default so one check-in uses one core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from edge.backends import FaceBox, Points, RGBImage, register
from edge.errors import ConfigurationError
from edge.ort import session
from models import ModelError, model_path

DETECTOR_ID = "yunet-2023mar"
DEFAULT_EMBEDDER = "sface-2021dec"  # production; this machine's mirror has only mobilefacenet-112
ALIGNED_SIZE = 112
MAX_DETECT_SIDE = 640
# YuNet finds faces from about 10 px wide: at 320 px a 60-px face of a 640-px frame is 30 px, found
# as reliably, and detection costs a quarter (about 7 ms instead of 25 ms a frame on one core).
DETECT_WIDTH = 320
# The five-point ArcFace template for a 112×112 crop: eye in the image's left,
# the other eye, nose tip, left and right mouth corners (the order YuNet gives).
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


@dataclass(frozen=True)
class Preprocessing:
    """How an embedder wants its aligned crop: channel order and ``(x - mean) / std``."""

    rgb: bool
    mean: float
    std: float


PREPROCESSING: dict[str, Preprocessing] = {
    # OpenCV's FaceRecognizerSF: blobFromImage(aligned, 1, (112, 112), 0, swapRB=True) - raw RGB 0-255.
    "sface-2021dec": Preprocessing(rgb=True, mean=0.0, std=1.0),
    "mobilefacenet-112": Preprocessing(rgb=True, mean=127.5, std=128.0),
}


def similarity_transform(src: npt.NDArray[np.float64], dst: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The 2×3 similarity (rotation, uniform scale, translation) that best maps ``src`` onto ``dst``.

    Least squares in the sense of Umeyama (1991), the estimate ArcFace-style
    pipelines use for alignment; no reflection is allowed.
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


def align(rgb: RGBImage, points: Points) -> RGBImage:
    """Warp ``rgb`` so that the five ``points`` land on the 112×112 ArcFace template."""
    matrix = similarity_transform(np.asarray(points, dtype=np.float64), ARCFACE_TEMPLATE)
    warped = cv2.warpAffine(rgb, matrix, (ALIGNED_SIZE, ALIGNED_SIZE), flags=cv2.INTER_LINEAR)
    return cast(RGBImage, warped)


def _box_points(face: FaceBox) -> Points:
    """Where the template's landmarks would be if ``face`` were a tight square face box (no landmarks known)."""
    side = max(face.width, face.height)
    cx, cy = (face.left + face.right) / 2, (face.top + face.bottom) / 2
    scale = side / ALIGNED_SIZE
    return tuple(
        (cx + (x - ALIGNED_SIZE / 2) * scale, cy + (y - ALIGNED_SIZE / 2) * scale) for x, y in ARCFACE_TEMPLATE
    )


class OnnxEmbedder:
    """YuNet + an ONNX embedder named in the manifest (``sface-2021dec`` or ``mobilefacenet-112``)."""

    pipeline = "5-point ArcFace alignment 112"
    detect_width = DETECT_WIDTH
    frames_to_fuse = 5  # an embedding is ~10 ms here: more frames, a steadier template, for almost nothing

    def __init__(
        self,
        embedder: str = DEFAULT_EMBEDDER,
        *,
        threads: int = 1,
        score_threshold: float = 0.8,
        nms_threshold: float = 0.3,
    ) -> None:
        if embedder not in PREPROCESSING:
            raise ConfigurationError(f"unknown ONNX embedder {embedder!r}; known: {', '.join(sorted(PREPROCESSING))}")
        if threads < 1:
            raise ConfigurationError("threads must be at least 1")
        try:
            detector_file = model_path(DETECTOR_ID)
            embedder_file = model_path(embedder)
        except ModelError as exc:
            raise ConfigurationError(str(exc)) from None
        cv2.setNumThreads(threads)
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # YuNet's load warns about DNN targets
        self.model_id = embedder
        self.threads = threads
        self._pre = PREPROCESSING[embedder]
        self._detector: Any = cv2.FaceDetectorYN.create(
            str(detector_file), "", (320, 320), score_threshold, nms_threshold, 5000
        )
        self._session: Any = session(str(embedder_file), threads=threads)  # telemetry off: edge/ort.py
        self._input = self._session.get_inputs()[0].name

    def detect(self, rgb: RGBImage, *, upsample: int = 0) -> list[FaceBox]:
        """Faces in ``rgb`` with their five landmarks, in ``rgb``'s pixel coordinates.

        YuNet misses faces much larger than those it was trained on, so the image
        is scaled to at most :data:`MAX_DETECT_SIDE` on its longer side;
        ``upsample`` doubles a small image that many times (within that bound).
        """
        factor = min(2.0**upsample, MAX_DETECT_SIDE / max(rgb.shape[:2]))
        bgr: Any = np.ascontiguousarray(rgb[:, :, ::-1])
        if factor != 1.0:
            interpolation = cv2.INTER_LINEAR if factor > 1 else cv2.INTER_AREA
            bgr = cv2.resize(bgr, None, fx=factor, fy=factor, interpolation=interpolation)
        height, width = bgr.shape[:2]
        self._detector.setInputSize((width, height))
        _, found = self._detector.detect(bgr)
        if found is None:
            return []
        faces = []
        for row in found:
            x, y, w, h = (float(v) / factor for v in row[:4])
            points = tuple((float(row[4 + 2 * i]) / factor, float(row[5 + 2 * i]) / factor) for i in range(5))
            faces.append(FaceBox(round(x), round(y), round(x + w), round(y + h), float(row[14]), points))
        return faces

    def aligned(self, rgb: RGBImage, face: FaceBox) -> RGBImage:
        """The 112×112 aligned crop of ``face`` (from its landmarks, else from its box)."""
        return align(rgb, face.points if face.points is not None else _box_points(face))

    def _forward(self, crop: RGBImage) -> npt.NDArray[np.float64]:
        pixels = crop if self._pre.rgb else crop[:, :, ::-1]
        blob = (pixels.astype(np.float32) - self._pre.mean) / self._pre.std
        blob = np.ascontiguousarray(blob.transpose(2, 0, 1)[np.newaxis])
        (output,) = self._session.run(None, {self._input: blob})
        return np.asarray(output[0], dtype=np.float64)

    def embed(self, rgb: RGBImage, face: FaceBox, *, jitters: int = 1) -> npt.NDArray[np.float64]:
        """The embedding of the aligned face; with ``jitters`` ≥ 2 the mirrored crop's embedding is added."""
        crop = self.aligned(rgb, face)
        vector = self._forward(crop)
        if jitters >= 2:
            vector = vector / np.linalg.norm(vector)
            flipped = self._forward(np.ascontiguousarray(crop[:, ::-1]))
            vector = vector + flipped / np.linalg.norm(flipped)
        return vector


@register("onnx")
def _create(embedder: str | None = None, threads: int | None = None) -> OnnxEmbedder:
    """The ONNX backend; what is not given comes from the kiosk's settings (LETHE_KIOSK_ONNX_EMBEDDER, _THREADS)."""
    if embedder is None or threads is None:
        from config import ConfigError
        from edge.settings import KioskSettings

        try:
            settings = KioskSettings.from_env()
        except ConfigError as exc:
            raise ConfigurationError(f"configuration: {exc}") from None
        embedder = embedder or settings.onnx_embedder
        threads = threads or settings.onnx_threads
    return OnnxEmbedder(embedder, threads=threads)
