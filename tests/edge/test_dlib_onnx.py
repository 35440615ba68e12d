"""dlib's ResNet in ONNX is dlib's network, cut and joined as the dlib backend does: the same templates.

The full check (every chip of LFW folds 1-5 and of the recorded clips) is
``lethe eval agreement``, recorded in docs/evaluation.md; here a fixed subset
of both runs in seconds.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from edge.backends import Embedder, create_backend
from edge.backends.dlib_chip import extract_chip
from edge.sources import read_image
from lethe.eval.agreement import AGREEMENT, ChipPair, image_files, measure, read_rgb, video_frames

PEOPLE = "faces/face_recognition/people/train"
MISC = "faces/face_recognition/misc"


@pytest.fixture(scope="module")
def pair(data_mirror: Path) -> ChipPair:
    return ChipPair()


@pytest.fixture(scope="module")
def onnx_backend(data_mirror: Path) -> Embedder:
    return create_backend("onnx", threads=1)  # the default embedder: dlib-resnet-v1


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_the_same_chip_gives_the_same_embedding(pair: ChipPair, testdata: Path) -> None:
    lfw = image_files(testdata / "lfw/pairs.txt", testdata / "lfw/images")[::400]  # 10 people, fixed
    on_lfw = measure(pair, read_rgb(lfw), upsample=1)
    clip = itertools.islice(video_frames(testdata / "video/short_hamilton_clip.mp4", every=40), 7)
    on_clip = measure(pair, clip, upsample=0)
    for result in (on_lfw, on_clip):
        assert len(result.cosines) >= 8  # chips and their mirrors
        assert min(result.cosines) >= AGREEMENT, result.as_json()


def test_the_chip_cut_without_dlib_is_dlibs(pair: ChipPair, testdata: Path) -> None:
    """Same points: the chip of edge/backends/dlib_chip.py embeds as dlib's (faces small and large)."""
    import dlib

    dlib_backend = pair.dlib
    predictor = dlib_backend._shape_predictor
    for name in ("obama-240p.jpg", "obama-720p.jpg", "biden.jpg", "lin-manuel-miranda.png"):
        rgb = np.ascontiguousarray(read_image(testdata / MISC / name)[:, :, ::-1])
        (face,) = dlib_backend.detect(rgb, upsample=1)
        shape = predictor(rgb, dlib.rectangle(face.left, face.top, face.right, face.bottom))
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        ours, theirs = extract_chip(rgb, points), dlib_backend.chip(rgb, face)
        assert ours.shape == theirs.shape == (150, 150, 3)
        embed = dlib_backend._encoder.compute_face_descriptor
        assert cosine(np.asarray(embed(ours, 0)), np.asarray(embed(theirs, 0))) >= 0.999, name


def test_both_backends_make_the_same_template(dlib_backend: Embedder, onnx_backend: Embedder, testdata: Path) -> None:
    """Each with its own detector (HOG, YuNet): 0.9975-1.0 on these portraits, against 0.93 for a match."""
    assert onnx_backend.model_id == dlib_backend.model_id == "dlib-resnet-v1"
    for path in sorted((testdata / PEOPLE).glob("*/*")):
        rgb = np.ascontiguousarray(read_image(path)[:, :, ::-1])
        (ours,), (theirs,) = dlib_backend.detect(rgb, upsample=1), onnx_backend.detect(rgb, upsample=1)
        assert cosine(dlib_backend.embed(rgb, ours), onnx_backend.embed(rgb, theirs)) >= 0.997, path.name
