"""The ID portrait read from a document held up to the camera (edge/idrecord.py), on real portraits.

The card is composed in memory (tests/edge/idcard.py) from the face_recognition
sample portraits; nothing is written to disk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.backends import Embedder
from edge.errors import MultipleFacesInIdImage, NoFaceInIdImage
from edge.idrecord import (
    ID_GOOD_FRAMES,
    ID_GUIDANCE,
    IdCapture,
    id_template_from_image,
    id_template_from_source,
)
from edge.sources import read_image
from models import load_manifest
from tests.edge.idcard import HeldCard

MISC = "faces/face_recognition/misc"


def capture(backend: Embedder, card: HeldCard, said: list[str] | None = None) -> IdCapture:
    told = None if said is None else said.append
    return id_template_from_source(backend, card, jitters=1, min_sharpness=15.0, max_seconds=20.0, on_guidance=told)


def test_the_portrait_on_a_held_card_is_the_person_of_the_photo(dlib_backend: Embedder, testdata: Path) -> None:
    threshold = load_manifest().threshold(dlib_backend.model_id)
    miranda, lacamoire = (testdata / MISC / name for name in ("lin-manuel-miranda.png", "alex-lacamoire.png"))
    card = HeldCard([read_image(miranda)])
    result = capture(dlib_backend, card)
    assert result.good_frames == ID_GOOD_FRAMES
    assert card.frames_read == result.frames_seen == ID_GOOD_FRAMES  # stops as soon as it has enough
    assert result.template.model_id == dlib_backend.model_id
    same = float(np.dot(result.template.vector, id_template_from_image(dlib_backend, miranda, jitters=1).vector))
    other = float(np.dot(result.template.vector, id_template_from_image(dlib_backend, lacamoire, jitters=1).vector))
    assert same >= threshold, same  # the card's small, re-sampled print still matches the photo it came from
    assert other < threshold, other


def test_a_card_without_a_portrait_is_refused_with_guidance(dlib_backend: Embedder) -> None:
    said: list[str] = []
    with pytest.raises(NoFaceInIdImage) as refused:
        capture(dlib_backend, HeldCard([], count=4), said)
    assert "in 4 frames" in refused.value.detail
    assert ID_GUIDANCE["no-face"] in refused.value.detail
    assert said == [ID_GUIDANCE["no-face"]]  # told once, not once per frame


def test_two_portraits_in_view_are_refused(dlib_backend: Embedder, testdata: Path) -> None:
    photos = [read_image(testdata / MISC / name) for name in ("lin-manuel-miranda.png", "alex-lacamoire.png")]
    with pytest.raises(MultipleFacesInIdImage) as refused:
        capture(dlib_backend, HeldCard(photos, count=4))
    assert ID_GUIDANCE["multiple-faces"] in refused.value.detail
