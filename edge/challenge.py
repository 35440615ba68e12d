"""The active liveness challenge, checked from facial landmarks over time.

The service picks the challenge per session (``none``, ``blink``, ``turn-left``,
``turn-right``); the kiosk feeds every frame that shows exactly one face to a
:class:`ChallengeDetector` as an :class:`Observation` (eye aspect ratio and yaw
from :mod:`edge.landmarks`), and reports whether the challenge was performed.

Blink: an open-eyes frame, then a frame whose EAR falls below ``closed_ratio``
of the guest's own open-eye level (the median over recent frames), then open
eyes again (``open_ratio``), all while the head is within ``max_blink_yaw`` of
frontal. Relative thresholds adapt to eye shape; a still photo or a replay
without a blink never passes.

Turns: the guest's starting yaw is the median of the first ``baseline_frames``
observations; the turn passes when yaw has moved at least ``turn_deg`` from it
in the asked direction on ``hold_frames`` consecutive video frames.

A replayed video that happens to contain the asked movement passes the
challenge; the challenge raises the bar (the attacker must match a movement
chosen at random after the session opened), and the passive model judges the
medium itself. Both go to the service, which decides.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

CHALLENGES = ("none", "blink", "turn-left", "turn-right")
INSTRUCTIONS = {
    "none": "Look at the camera.",
    "blink": "Please blink.",
    "turn-left": "Please turn your head slowly to your left.",
    "turn-right": "Please turn your head slowly to your right.",
}


@dataclass(frozen=True)
class Observation:
    """One frame's measurements of the one face in it."""

    index: int
    eye_aspect_ratio: float
    yaw_deg: float


class ChallengeDetector:
    def __init__(
        self,
        challenge: str,
        *,
        closed_ratio: float = 0.6,
        open_ratio: float = 0.8,
        max_blink_yaw: float = 30.0,
        window: int = 15,
        turn_deg: float = 20.0,
        baseline_frames: int = 5,
        hold_frames: int = 2,
    ) -> None:
        if challenge not in CHALLENGES:
            raise ValueError(f"unknown challenge {challenge!r}")
        self.challenge = challenge
        self.passed = challenge == "none"
        self.frames = 0
        self._closed_ratio, self._open_ratio, self._max_blink_yaw = closed_ratio, open_ratio, max_blink_yaw
        self._turn_deg, self._baseline_frames, self._hold_frames = turn_deg, baseline_frames, hold_frames
        self._ears: deque[float] = deque(maxlen=window)
        self._yaws: list[float] = []
        self._state = "start"  # blink: start -> open -> closed -> (open again: passed)
        self._held = 0
        self._last_index: int | None = None

    @property
    def instruction(self) -> str:
        return INSTRUCTIONS[self.challenge]

    def observe(self, obs: Observation) -> bool:
        """Take one frame's measurements; return whether the challenge has been performed."""
        if self.passed:
            return True
        self.frames += 1
        if self.challenge == "blink":
            self._blink(obs)
        else:
            self._turn(obs)
        self._last_index = obs.index
        return self.passed

    def _blink(self, obs: Observation) -> None:
        if abs(obs.yaw_deg) > self._max_blink_yaw:
            return
        level = statistics.median(self._ears) if len(self._ears) >= 3 else None
        self._ears.append(obs.eye_aspect_ratio)
        if level is None:
            return
        ratio = obs.eye_aspect_ratio / level
        if ratio >= self._open_ratio:
            if self._state == "closed":
                self.passed = True
            self._state = "open"
        elif ratio < self._closed_ratio and self._state == "open":
            self._state = "closed"

    def _turn(self, obs: Observation) -> None:
        if len(self._yaws) < self._baseline_frames:
            self._yaws.append(obs.yaw_deg)
            return
        start = statistics.median(self._yaws)
        sign = 1.0 if self.challenge == "turn-left" else -1.0
        consecutive = self._last_index is not None and obs.index == self._last_index + 1
        if sign * (obs.yaw_deg - start) >= self._turn_deg:
            self._held = self._held + 1 if consecutive or self._held == 0 else 1
        else:
            self._held = 0
        if self._held >= self._hold_frames:
            self.passed = True
