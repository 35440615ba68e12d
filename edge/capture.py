"""Live capture: gather good frames, pick the best, embed them and fuse one live template."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.backends import Embedder, FaceBox
from edge.errors import NoUsableFace
from edge.quality import GUIDANCE, Detector, QualityGate
from edge.settings import KioskSettings
from edge.sources import Frame, FrameSource
from protocol import Template

Vector = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Capture:
    """A live template and how it was made (counts and times only, no image data)."""

    template: Template
    frames_seen: int
    candidates: int
    frames_fused: int
    first_frame_s: float
    elapsed_s: float
    refusals: dict[str, int]

    def evidence(self) -> dict[str, int | float]:
        return {
            "frames_seen": self.frames_seen,
            "frames_fused": self.frames_fused,
            "capture_s": round(self.elapsed_s, 3),
        }


@dataclass(frozen=True)
class _Candidate:
    score: float
    frame: Frame
    face: FaceBox


def _unit(v: Vector) -> Vector:
    return v / np.linalg.norm(v)


def fuse(embeddings: list[Vector], min_similarity: float) -> tuple[Vector, int]:
    """Average the embeddings that agree with their medoid; return the unit mean and how many were kept.

    Embeddings less similar to the medoid than ``min_similarity`` (the model's
    match threshold) are dropped, so a stray frame of someone else cannot pull
    the template towards a bystander.
    """
    units = np.stack([_unit(e) for e in embeddings])
    similarity = units @ units.T
    medoid = int(np.argmax(similarity.sum(axis=1)))
    keep = similarity[medoid] >= min_similarity
    return _unit(units[keep].mean(axis=0)), int(keep.sum())


class LiveCapture:
    def __init__(self, backend: Embedder, settings: KioskSettings, *, match_threshold: float) -> None:
        self._backend = backend
        self._settings = settings
        self._threshold = match_threshold
        self._detect = Detector(backend, max_width=settings.detect_width, upsample=settings.detect_upsample)
        self._gate = QualityGate(min_face_px=settings.min_face_px, min_sharpness=settings.min_sharpness)

    def run(self, source: FrameSource) -> Capture:
        """Read ``source`` until enough good frames (or the time limit), then make the live template.

        Raises :class:`NoUsableFace` with guidance for the most common refusal.
        """
        started = time.monotonic()
        refusals: Counter[str] = Counter()
        candidates: list[_Candidate] = []
        seen = 0
        first_frame_s = 0.0
        for frame in source.frames():
            if frame.timestamp_s > self._settings.max_seconds:
                break
            seen += 1
            verdict = self._gate.assess(frame.image, self._detect(frame.image))
            if not verdict.ok or verdict.quality is None:
                refusals[verdict.reason or "no-face"] += 1
                continue
            if not candidates:
                first_frame_s = frame.timestamp_s
            candidates.append(_Candidate(verdict.quality.score, frame, verdict.quality.face))
            if len(candidates) >= self._settings.candidates:
                break
        if not candidates:
            reason, _ = refusals.most_common(1)[0] if refusals else ("no-face", 0)
            raise NoUsableFace(f"no usable face in {seen} frames: {GUIDANCE[reason]}")
        best = sorted(candidates, key=lambda c: c.score, reverse=True)[: self._settings.frames_to_fuse]
        embeddings = [self._backend.embed(np.ascontiguousarray(c.frame.image[:, :, ::-1]), c.face) for c in best]
        candidates.clear()
        fused, kept = fuse(embeddings, self._threshold)
        return Capture(
            template=Template.from_embedding(self._backend.model_id, fused),
            frames_seen=seen,
            candidates=len(best),
            frames_fused=kept,
            first_frame_s=first_frame_s,
            elapsed_s=time.monotonic() - started,
            refusals=dict(refusals),
        )
