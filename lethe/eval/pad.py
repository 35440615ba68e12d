"""Evaluating passive liveness as ISO/IEC 30107-3 asks: APCER per attack type, and BPCER.

A presentation is one image (or one video frame). It is classified bona fide
when its passive score is at or above the threshold. APCER of an attack type
is the share of that type's presentations classified bona fide; the overall
APCER is the worst type's (30107-3 reports the maximum over species). BPCER is
the share of bona fide presentations classified as attacks. Presentations in
which no face is found cannot be classified; they are counted separately
(``no_face``), not folded into either rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.backends import FaceBox
from edge.challenge import CHALLENGES, ChallengeDetector, Observation
from edge.landmarks import LandmarkModel
from edge.liveness import DEFAULT_THRESHOLD, PassiveEvidence, PassiveLiveness
from edge.quality import Detector
from edge.sources import IMAGE_SUFFIXES, Frame, VideoFileSource, read_image

BPCER_TARGET = 0.05


@dataclass(frozen=True)
class Scored:
    """The scores of one group of presentations (a folder or a video), and how many had no face."""

    name: str
    scores: list[float]
    no_face: int
    several_faces: int = 0

    def accepted(self, threshold: float) -> int:
        return sum(score >= threshold for score in self.scores)


def largest(faces: list[FaceBox]) -> FaceBox | None:
    return max(faces, key=lambda f: f.width * f.height) if faces else None


def score_frames(
    frames: Iterable[Frame], detect: Detector, passive: PassiveLiveness, name: str, *, single: bool = False
) -> Scored:
    """Score the largest face of every frame; with ``single``, only frames with exactly one face (as the kiosk does)."""
    scores: list[float] = []
    no_face = several = 0
    for frame in frames:
        faces = detect(frame.image)
        face = largest(faces)
        if face is None:
            no_face += 1
        elif single and len(faces) > 1:
            several += 1
        else:
            scores.append(passive.score(frame.image, face))
    return Scored(name, scores, no_face, several)


def image_frames(paths: Iterable[Path]) -> Iterator[Frame]:
    """Every image file given, or under a folder given (recursively, sorted by name)."""
    files: list[Path] = []
    for path in paths:
        files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
    for index, path in enumerate(files):
        yield Frame(read_image(path), index, float(index))


def score_group(name: str, paths: Iterable[Path], detect: Detector, passive: PassiveLiveness) -> Scored:
    return score_frames(image_frames(paths), detect, passive, name)


def score_video(path: Path, detect: Detector, passive: PassiveLiveness) -> Scored:
    with VideoFileSource(path) as source:
        return score_frames(source.frames(), detect, passive, path.name, single=True)


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def apcer_at_bpcer(live: list[float], attacks: list[float], target: float = BPCER_TARGET) -> tuple[float, float]:
    """The least APCER (pooled over attack types) with BPCER ≤ ``target``, and the threshold that gives it."""
    best = (1.0, 0.0)
    for threshold in sorted(set(live) | {1.0 + 1e-9}):
        bpcer = sum(s < threshold for s in live) / len(live)
        if bpcer <= target:
            apcer = sum(s >= threshold for s in attacks) / len(attacks)
            if apcer < best[0] or (apcer == best[0] and threshold < best[1]):
                best = (apcer, threshold)
    return best


def report(live: list[Scored], attacks: list[Scored], threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """The evaluation as one JSON-ready object (fractions, not percentages)."""
    live_scores = [s for group in live for s in group.scores]
    per_type: dict[str, dict[str, Any]] = {}
    for group in attacks:
        per_type[group.name] = {
            "presentations": len(group.scores),
            "accepted": group.accepted(threshold),
            "no_face": group.no_face,
            "apcer": _rate(group.accepted(threshold), len(group.scores)),
        }
    rates = [t["apcer"] for t in per_type.values() if t["apcer"] is not None]
    result: dict[str, Any] = {
        "threshold": threshold,
        "apcer": max(rates) if rates else None,
        "bpcer": _rate(sum(s < threshold for s in live_scores), len(live_scores)),
        "attack_types": per_type,
        "bona_fide": {
            "presentations": len(live_scores),
            "rejected": sum(s < threshold for s in live_scores),
            "no_face": sum(group.no_face for group in live),
            "sources": {group.name: len(group.scores) for group in live},
        },
    }
    attack_scores = [s for group in attacks for s in group.scores]
    if live_scores and attack_scores:
        apcer, at = apcer_at_bpcer(live_scores, attack_scores)
        result["apcer_at_bpcer_5pct"] = {"apcer": apcer, "threshold": round(at, 4)}
    return result


def video_report(scored: Scored, label: str, threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """One video's frame-level rates and its decision: live when the median P(live) reaches ``threshold``.

    Frames are scored as the kiosk would use them: those with exactly one face.
    """
    frames = len(scored.scores)
    accepted = scored.accepted(threshold)
    evidence = PassiveEvidence.of(scored.scores) if scored.scores else None
    live = evidence is not None and evidence.is_live(threshold)
    return {
        "video": scored.name,
        "label": label,
        "threshold": threshold,
        "frames_scored": frames,
        "no_face": scored.no_face,
        "several_faces": scored.several_faces,
        "median_score": round(evidence.score, 4) if evidence else None,
        "decision": "live" if live else "attack",
        "correct": live == (label == "live"),
        "apcer": _rate(accepted, frames) if label == "attack" else None,
        "bpcer": _rate(frames - accepted, frames) if label == "live" else None,
    }


def challenges_on_video(path: Path, detect: Detector, landmarks: LandmarkModel) -> dict[str, int | None]:
    """The frame at which each active challenge would pass on ``path``, or None (never).

    Every frame with exactly one face is measured as the kiosk measures it and
    fed to one :class:`~edge.challenge.ChallengeDetector` per challenge. On an
    attack, any frame number is a challenge the attack would have passed had
    the service drawn it.
    """
    detectors = {name: ChallengeDetector(name) for name in CHALLENGES if name != "none"}
    passed: dict[str, int | None] = dict.fromkeys(detectors)
    with VideoFileSource(path) as source:
        for frame in source.frames():
            faces = detect(frame.image)
            if len(faces) != 1:
                continue
            geometry = landmarks.geometry(frame.image, faces[0])
            if not geometry.trusted:
                continue
            observation = Observation(frame.index, geometry.eye_aspect_ratio, geometry.yaw_deg)
            for name, detector in detectors.items():
                if passed[name] is None and detector.observe(observation):
                    passed[name] = frame.index
    return passed
