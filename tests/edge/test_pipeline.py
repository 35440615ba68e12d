"""The dlib backend, the ID record and live capture on real photos and recorded video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.backends import Embedder
from edge.capture import LiveCapture, fuse
from edge.errors import MultipleFacesInIdImage, NoFaceInIdImage, NoUsableFace
from edge.idrecord import id_template_from_image
from edge.settings import KioskSettings
from edge.sources import ImageSource, VideoFileSource
from models import load_manifest

THRESHOLD = load_manifest().threshold("dlib-resnet-v1")
MISC = "faces/face_recognition/misc"


def cos(a, b) -> float:
    return float(np.dot(a.vector, b.vector))


def test_id_template_from_a_portrait(dlib_backend: Embedder, testdata: Path) -> None:
    template = id_template_from_image(dlib_backend, testdata / MISC / "lin-manuel-miranda.png", jitters=1)
    assert template.model_id == "dlib-resnet-v1"
    assert template.dimension == 128


def test_id_image_with_two_faces(dlib_backend: Embedder, testdata: Path) -> None:
    with pytest.raises(MultipleFacesInIdImage):
        id_template_from_image(
            dlib_backend, testdata / "faces/face_recognition/people/test/obama_and_biden.jpg", jitters=1
        )


def test_id_image_with_no_face(dlib_backend: Embedder, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 128, np.uint8))
    with pytest.raises(NoFaceInIdImage):
        id_template_from_image(dlib_backend, blank, jitters=1)


def test_same_person_scores_above_and_another_below_the_threshold(dlib_backend: Embedder, testdata: Path) -> None:
    obama = [id_template_from_image(dlib_backend, testdata / MISC / n, jitters=1) for n in ("obama.jpg", "obama2.jpg")]
    biden = id_template_from_image(dlib_backend, testdata / MISC / "biden.jpg", jitters=1)
    assert cos(obama[0], obama[1]) >= THRESHOLD
    assert cos(obama[0], biden) < THRESHOLD


def test_a_face_and_its_mirror_image_give_one_template(dlib_backend: Embedder, testdata: Path) -> None:
    """The template adds the chip's and the mirrored chip's embeddings, so which way the face looks hardly matters."""
    from edge.sources import read_image

    for name in ("lin-manuel-miranda.png", "alex-lacamoire.png", "obama.jpg"):
        rgb = np.ascontiguousarray(read_image(testdata / MISC / name)[:, :, ::-1])
        flipped = np.ascontiguousarray(rgb[:, ::-1])
        (face,) = dlib_backend.detect(rgb, upsample=1)
        (mirrored,) = dlib_backend.detect(flipped, upsample=1)
        a, b = (v / np.linalg.norm(v) for v in (dlib_backend.embed(rgb, face), dlib_backend.embed(flipped, mirrored)))
        assert float(a @ b) > 0.995  # one chip alone: 0.986-0.994 on these portraits
        np.testing.assert_array_equal(dlib_backend.embed(rgb, face), dlib_backend.embed(rgb, face))  # no randomness


def test_live_capture_on_the_hamilton_clip(dlib_backend: Embedder, testdata: Path) -> None:
    settings = KioskSettings()
    with VideoFileSource(testdata / "video/short_hamilton_clip.mp4") as source:
        capture = LiveCapture(dlib_backend, settings, match_threshold=THRESHOLD).run(source)
    guest = id_template_from_image(dlib_backend, testdata / MISC / "lin-manuel-miranda.png", jitters=3)
    other = id_template_from_image(dlib_backend, testdata / MISC / "alex-lacamoire.png", jitters=3)
    assert capture.frames_fused >= 3
    assert capture.first_frame_s > 2.0  # the clip opens on a wide shot with no usable face
    assert capture.refusals.get("no-face", 0) > 0
    assert cos(capture.template, guest) >= THRESHOLD > cos(capture.template, other)


def test_no_face_in_the_whole_source_gives_guidance(dlib_backend: Embedder, tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((240, 320, 3), 90 + i, np.uint8))
    with ImageSource(tmp_path) as source, pytest.raises(NoUsableFace, match="look at the camera"):
        LiveCapture(dlib_backend, KioskSettings(), match_threshold=THRESHOLD).run(source)


def test_fuse_drops_an_embedding_of_someone_else() -> None:
    rng = np.random.default_rng(0)
    person = rng.normal(size=128)
    same = [person + rng.normal(scale=0.05, size=128) for _ in range(4)]
    fused, kept = fuse([*same, rng.normal(size=128)], 0.9)
    assert kept == 4
    assert np.dot(fused, person / np.linalg.norm(person)) > 0.99


def test_one_good_frame_is_not_enough_for_a_live_template(dlib_backend: Embedder, testdata: Path) -> None:
    with ImageSource(testdata / MISC / "obama.jpg") as source, pytest.raises(NoUsableFace, match="1 good frame"):
        LiveCapture(dlib_backend, KioskSettings(), match_threshold=THRESHOLD).run(source)


def test_frequent_second_face_is_the_guidance_before_pose() -> None:
    from collections import Counter

    from edge.capture import main_refusal

    assert main_refusal(Counter()) == "no-face"
    assert main_refusal(Counter({"not-frontal": 73, "multiple-faces": 24, "no-face": 8})) == "multiple-faces"
    assert main_refusal(Counter({"not-frontal": 73, "multiple-faces": 3, "no-face": 8})) == "not-frontal"
