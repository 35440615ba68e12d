"""Live capture: gather good frames, watch the challenge, pick the best frames, fuse one live template.

Every frame is detected on a downscaled copy; a frame with exactly one face
gets its 68 landmarks (pose, eyes, inter-eye distance), which feed both the
quality gate and the active challenge. Frames the gate accepts are scored by
the passive liveness models and ranked as candidates, and those that may still
be among the best are kept, in memory; the best are embedded from the
full-resolution frame and fused. Capture ends when enough candidates are in
and the challenge is done, or at the time limit.
"""

from __future__ import annotations

import time
from bisect import insort
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.backends import Embedder, FaceBox
from edge.challenge import ChallengeDetector, Observation
from edge.errors import NoUsableFace
from edge.landmarks import LandmarkModel
from edge.liveness import PassiveEvidence, PassiveLiveness
from edge.quality import GUIDANCE, Detector, QualityGate, Verdict
from edge.settings import KioskSettings
from edge.sources import Frame, FrameSource
from protocol import Template

Vector = npt.NDArray[np.float64]
FULL_RESOLUTION = 1 << 16  # a detection width no frame exceeds: detect without downscaling
MIN_AGREEING_FRAMES = 3  # good frames that must show the same face before a live template is made
# Another person in view in at least this share of the refused frames: ask for one face at a
# time before anything else, since no other guidance can help while they stay.
MULTIPLE_FACES_SHARE = 0.2


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
    passive: PassiveEvidence | None = None
    challenge: str = "none"
    challenge_passed: bool = True
    first_good_s: float = 0.0

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


def main_refusal(refusals: Counter[str]) -> str:
    """The refusal whose guidance the guest most needs: several faces when frequent, else the commonest."""
    if not refusals:
        return "no-face"
    if refusals["multiple-faces"] >= MULTIPLE_FACES_SHARE * sum(refusals.values()):
        return "multiple-faces"
    return refusals.most_common(1)[0][0]


class LiveCapture:
    def __init__(
        self,
        backend: Embedder,
        settings: KioskSettings,
        *,
        match_threshold: float,
        landmarks: LandmarkModel | None = None,
        passive: PassiveLiveness | None = None,
    ) -> None:
        self._backend = backend
        self._settings = settings
        self._threshold = match_threshold
        self._landmarks = landmarks
        self._passive = passive
        self._detect_width = settings.detect_width or backend.detect_width
        self._frames_to_fuse = settings.frames_to_fuse or backend.frames_to_fuse
        self._detect = Detector(backend, max_width=self._detect_width, upsample=settings.detect_upsample)
        self._gate = QualityGate(
            min_face_px=settings.min_face_px,
            min_sharpness=settings.min_sharpness,
            min_inter_eye_px=settings.min_inter_eye_px,
            max_pose_deg=settings.max_pose_deg,
        )
        # HOG on the downscaled frame misses the smaller faces of people standing beside or
        # behind the guest; a candidate is confirmed alone on the full frame before use.
        self._detect_full = Detector(backend, max_width=FULL_RESOLUTION, upsample=0)

    def assess(self, frame: Frame, challenge: ChallengeDetector | None = None) -> Verdict:
        """Detect, measure and judge one frame; feed the challenge when it shows exactly one face."""
        faces = self._detect(frame.image)
        geometry = None
        if len(faces) == 1 and self._landmarks is not None:
            geometry = self._landmarks.geometry(frame.image, faces[0])
            if challenge is not None and geometry.trusted:
                challenge.observe(Observation(frame.index, geometry.eye_aspect_ratio, geometry.yaw_deg))
        return self._gate.assess(frame.image, faces, geometry)

    def run(
        self, source: FrameSource, *, challenge: str = "none", on_guidance: Callable[[str], None] | None = None
    ) -> Capture:
        """Read ``source`` until enough good frames and the challenge (or the time limit), then make the template.

        ``on_guidance`` is told what to say to the guest whenever it changes.
        A good frame shows exactly one face, also when checked on the full frame. Raises
        :class:`NoUsableFace` with guidance for the most common refusal, or when fewer than
        three good frames agree on one face (a lone frame, or frames of different people).
        """
        started = time.monotonic()
        detector = ChallengeDetector(challenge) if self._landmarks is not None else None
        if detector is None and challenge != "none":
            raise ValueError("a challenge needs the landmark model")
        refusals: Counter[str] = Counter()
        # Only the frames that may be fused are held (best first, earlier first among equals, as a
        # stable sort of all candidates would order them): the others' frames are dropped at once.
        best: list[_Candidate] = []
        candidates = 0
        passive_scores: list[float] = []
        seen = 0
        first_frame_s = first_good_s = 0.0
        said = ""
        for frame in source.frames():
            if frame.timestamp_s > self._settings.max_seconds:
                break
            seen += 1
            verdict = self.assess(frame, detector)
            done = detector is None or detector.passed
            downscaled = frame.image.shape[1] > self._detect_width
            if verdict.ok and downscaled and len(self._detect_full(frame.image)) > 1:
                verdict = Verdict("multiple-faces")
            if not verdict.ok or verdict.quality is None:
                refusals[verdict.reason or "no-face"] += 1
                message = verdict.guidance
            else:
                if not candidates:
                    first_frame_s, first_good_s = frame.timestamp_s, time.monotonic() - started
                if candidates < self._settings.candidates:
                    candidates += 1
                    face = verdict.quality.face
                    if self._passive is not None:
                        passive_scores.append(self._passive.score(frame.image, face))
                    insort(best, _Candidate(verdict.quality.score, frame, face), key=lambda c: -c.score)
                    del best[self._frames_to_fuse :]
                message = "" if done else detector.instruction if detector else ""
            if on_guidance is not None and message != said:
                on_guidance(message)
                said = message
            if candidates >= self._settings.candidates and done:
                break
        if not best:
            raise NoUsableFace(f"no usable face in {seen} frames: {GUIDANCE[main_refusal(refusals)]}")
        embeddings = [self._backend.embed(np.ascontiguousarray(c.frame.image[:, :, ::-1]), c.face) for c in best]
        fused_from = len(best)
        best.clear()
        fused, kept = fuse(embeddings, self._threshold)
        if kept < min(MIN_AGREEING_FRAMES, self._frames_to_fuse, self._settings.candidates):
            # Too little evidence of one person: a lone lucky frame, or frames of different people.
            reason = "multiple-faces" if kept < fused_from else main_refusal(refusals)
            raise NoUsableFace(f"only {kept} good frame(s) of one face in {seen} frames: {GUIDANCE[reason]}")
        return Capture(
            template=Template.from_embedding(self._backend.model_id, fused),
            frames_seen=seen,
            candidates=fused_from,
            frames_fused=kept,
            first_frame_s=first_frame_s,
            elapsed_s=time.monotonic() - started,
            refusals=dict(refusals),
            passive=PassiveEvidence.of(passive_scores) if passive_scores else None,
            challenge=challenge,
            challenge_passed=detector.passed if detector is not None else challenge == "none",
            first_good_s=first_good_s,
        )
