"""The ONNX backend: YuNet detection, then an embedder in onnxruntime.

Detection runs in OpenCV (``cv2.FaceDetectorYN``), which gives a box and five
landmarks per face. Two embedders share this interface (see
models/manifest.toml), each with the alignment it was trained on:

* ``dlib-resnet-v1``, the default: dlib's face-recognition ResNet converted to
  ONNX by ``models/dlib_resnet.py`` (``lethe models convert``, or on first
  use). It is dlib's network, so it cuts dlib's chip (:mod:`edge.backends.dlib_chip`:
  dlib's 5-point landmarks in NumPy on a HOG-like box made from YuNet's, dlib's
  150×150 geometry) and joins the chip's and its mirror's embeddings as the dlib
  backend does: its templates carry the dlib backend's model id and meet its
  threshold, and a template enrolled at a dlib kiosk verifies at an ONNX kiosk.
* ``mobilefacenet-112``, a test stand-in without a licence: YuNet's five points
  mapped onto the 112×112 ArcFace template by a least-squares similarity.

Every model file is checked against the manifest's SHA-256 before it is loaded.
``threads`` bounds onnxruntime's intra-op pool and OpenCV's pool (the latter is
process-wide); 1 is the kiosk's default so one check-in uses one core.
"""

from __future__ import annotations

from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from edge.backends import FaceBox, Points, RGBImage, register
from edge.backends.dlib import PIPELINE as DLIB_PIPELINE
from edge.backends.dlib import unit_sum
from edge.backends.dlib_chip import FivePointChipper, similarity_transform
from edge.errors import ConfigurationError
from edge.ort import session
from models import ModelError, model_path

DETECTOR_ID = "yunet-2023mar"
DEFAULT_EMBEDDER = "dlib-resnet-v1"
EMBEDDERS = ("dlib-resnet-v1", "mobilefacenet-112")
# The manifest entry of each embedder's ONNX file (dlib's ResNet as converted; its template id stays dlib's).
ONNX_FILES = {"dlib-resnet-v1": "dlib-resnet-v1-onnx", "mobilefacenet-112": "mobilefacenet-112"}
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
    """YuNet + an ONNX embedder named in the manifest (``dlib-resnet-v1`` or ``mobilefacenet-112``)."""

    detect_width = DETECT_WIDTH
    frames_to_fuse = 5  # an embedding is ~20 ms here: more frames, a steadier template, for little

    def __init__(
        self,
        embedder: str = DEFAULT_EMBEDDER,
        *,
        threads: int = 1,
        score_threshold: float = 0.8,
        nms_threshold: float = 0.3,
    ) -> None:
        if embedder not in EMBEDDERS:
            raise ConfigurationError(f"unknown ONNX embedder {embedder!r}; known: {', '.join(EMBEDDERS)}")
        if threads < 1:
            raise ConfigurationError("threads must be at least 1")
        try:
            detector_file = model_path(DETECTOR_ID)
            embedder_file = model_path(ONNX_FILES[embedder])
        except ModelError as exc:
            raise ConfigurationError(str(exc)) from None
        self._chipper = FivePointChipper() if embedder == "dlib-resnet-v1" else None
        cv2.setNumThreads(threads)
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # YuNet's load warns about DNN targets
        self.model_id = embedder
        self.pipeline = "numpy " + DLIB_PIPELINE if self._chipper else "5-point ArcFace alignment 112"
        self.threads = threads
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
        """The embedder's input crop of ``face``: dlib's 150×150 chip, or the 112×112 ArcFace crop."""
        if self._chipper is not None:
            return self._chipper.chip(rgb, face)
        return align(rgb, face.points if face.points is not None else _box_points(face))

    def _forward(self, crops: list[RGBImage]) -> list[npt.NDArray[np.float64]]:
        if self._chipper is not None:  # dlib's ResNet: uint8 chips as they are, in one batch (its graph scales them)
            (output,) = self._session.run(None, {self._input: np.ascontiguousarray(np.stack(crops))})
            return [np.asarray(row, dtype=np.float64) for row in output]
        vectors = []
        for crop in crops:  # MobileFaceNet: one RGB crop at a time, (x - 127.5) / 128, channels first
            blob = ((crop.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[np.newaxis]
            (output,) = self._session.run(None, {self._input: np.ascontiguousarray(blob)})
            vectors.append(np.asarray(output[0], dtype=np.float64))
        return vectors

    def embed(self, rgb: RGBImage, face: FaceBox, *, jitters: int = 1) -> npt.NDArray[np.float64]:
        """The embedding of the aligned face.

        dlib's ResNet: the sum of the unit embeddings of the chip and of its
        mirror, always, as the dlib backend makes them (``jitters`` is not used:
        dlib's jitter is random, and the mirror is its one deterministic part).
        MobileFaceNet: the crop's embedding, plus the mirror's with ``jitters`` ≥ 2.
        """
        crop = self.aligned(rgb, face)
        views = [crop]
        if self._chipper is not None or jitters >= 2:
            views.append(np.ascontiguousarray(crop[:, ::-1]))
        vectors = self._forward(views)
        return vectors[0] if len(vectors) == 1 else unit_sum(vectors)


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
