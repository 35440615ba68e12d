"""The ID portrait read from a document held up to the camera (edge/idrecord.py), on real portraits.

The card is composed in memory (tests/edge/idcard.py) from the face_recognition
sample portraits; nothing is written to disk. The live faces shown instead of a
document are recorded videos: a person at a webcam, and the Hamilton clip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.backends import Embedder
from edge.document import MAX_ASPECT, MIN_ASPECT, find_document
from edge.errors import MultipleFacesInIdImage, NoFaceInIdImage, NoIdDocument
from edge.idrecord import (
    ID_GOOD_FRAMES,
    ID_GUIDANCE,
    IdCapture,
    id_template_from_image,
    id_template_from_source,
)
from edge.quality import Detector
from edge.sources import VideoFileSource, read_image
from models import load_manifest
from tests.helpers.idcard import CARD_H, CARD_W, HeldCard, card_frame

MISC = "faces/face_recognition/misc"


def capture(
    backend: Embedder, card: HeldCard | VideoFileSource, said: list[str] | None = None, max_seconds: float = 20.0
) -> IdCapture:
    told = None if said is None else said.append
    return id_template_from_source(
        backend, card, jitters=1, min_sharpness=15.0, max_seconds=max_seconds, on_guidance=told
    )


@pytest.mark.parametrize("portrait", ["lin-manuel-miranda.png", "alex-lacamoire.png", "obama.jpg"])
def test_the_card_is_found_around_its_portrait(dlib_backend: Embedder, testdata: Path, portrait: str) -> None:
    frame = card_frame([read_image(testdata / MISC / portrait)], shift=(5, -3))
    (face,) = Detector(dlib_backend, max_width=1024, upsample=1)(frame)
    document = find_document(frame, face)
    assert document is not None
    assert abs(document.width_px - CARD_W) <= 0.03 * CARD_W, document  # the card itself, not the portrait's frame
    # The card's dark title band can merge with the dim room: the outline is then the light body below it.
    assert CARD_H - 40 <= document.height_px <= CARD_H + 5, document
    assert MIN_ASPECT <= document.aspect <= MAX_ASPECT
    blank = frame.copy()
    blank[:, :] = frame[5:6, 5:6]  # the same face box on an empty scene has no card around it
    assert find_document(blank, face) is None


@pytest.mark.parametrize("video", ["live_vs_replay_a/live.mov", "short_hamilton_clip.mp4"])
def test_a_live_face_shown_instead_of_the_document_is_refused(
    dlib_backend: Embedder, testdata: Path, video: str
) -> None:
    said: list[str] = []
    with VideoFileSource(testdata / "video" / video) as source, pytest.raises(NoIdDocument) as refused:
        capture(dlib_backend, source, said, max_seconds=3.0)
    assert refused.value.code == "no-id-document"
    assert ID_GUIDANCE["no-document"] in refused.value.detail
    assert ID_GUIDANCE["no-document"] in said


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
