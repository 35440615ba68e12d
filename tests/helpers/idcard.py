"""An ID document held up to the camera, composed in memory from a real portrait (nothing written).

The frame is a 640×480 scene: a dim, textured room, and an ID-1 card (85.6 × 54 mm,
here 380 × 240 px: a card held about 25 cm from a webcam) with printed lines and
the portrait on its left, as on a passport's photo page or an identity card. Each
frame shifts the card a little, as a hand does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Self

import cv2
import numpy as np

from edge.sources import Frame, Image

WIDTH, HEIGHT = 640, 480
CARD_W, CARD_H = 380, 240
PORTRAIT_W, PORTRAIT_H = 140, 180


def portrait_crop(photo: Image) -> Image:
    """The photo cut to the document portrait's 7:9 aspect (centred), at the card's portrait size."""
    height, width = photo.shape[:2]
    crop_h = min(height, round(width * PORTRAIT_H / PORTRAIT_W))
    crop_w = round(crop_h * PORTRAIT_W / PORTRAIT_H)
    top, left = (height - crop_h) // 3, (width - crop_w) // 2
    return cv2.resize(photo[top : top + crop_h, left : left + crop_w], (PORTRAIT_W, PORTRAIT_H), cv2.INTER_AREA)


def card_frame(portraits: Sequence[Image], *, shift: tuple[int, int] = (0, 0), seed: int = 0) -> Image:
    """One camera frame with the card; ``portraits`` side by side on it (0, 1 or 2 of them)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(60, 120, WIDTH, dtype=np.float64)[None, :, None]
    room = np.clip(ramp + rng.normal(0, 6, (HEIGHT, WIDTH, 3)), 0, 255).astype(np.uint8)
    card = np.full((CARD_H, CARD_W, 3), (222, 228, 232), np.uint8)
    cv2.rectangle(card, (0, 0), (CARD_W - 1, 34), (150, 90, 40), -1)
    cv2.putText(card, "IDENTITY CARD", (12, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
    for i, photo in enumerate(portraits):
        x = 14 + i * (PORTRAIT_W + 10)
        card[44 : 44 + PORTRAIT_H, x : x + PORTRAIT_W] = portrait_crop(photo)
    text_x = 14 + max(1, len(portraits)) * (PORTRAIT_W + 10)
    for row, line in enumerate(("SURNAME", "GIVEN NAMES", "DATE OF BIRTH", "EXPIRY")):
        cv2.putText(card, line, (text_x, 70 + 40 * row), cv2.FONT_HERSHEY_PLAIN, 0.9, (60, 60, 60), 1)
    left, top = (WIDTH - CARD_W) // 2 + shift[0], (HEIGHT - CARD_H) // 2 + shift[1]
    room[top : top + CARD_H, left : left + CARD_W] = card
    return room


class HeldCard:
    """A frame source (:class:`~edge.sources.FrameSource`) showing the card for ``count`` frames at 30/s."""

    description = "ID card held up to the camera (in memory)"

    def __init__(self, portraits: Sequence[Image], count: int = 15) -> None:
        self._portraits = list(portraits)
        self._count = count
        self.frames_read = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def frames(self) -> Iterator[Frame]:
        for index in range(self._count):
            shift = (round(6 * np.sin(index / 3)), round(4 * np.cos(index / 4)))
            self.frames_read += 1
            yield Frame(card_frame(self._portraits, shift=shift, seed=index), index, index / 30)
