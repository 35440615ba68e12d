"""``lethe eval verification``: pair files, folds, the metrics on known scores, and a real run on the deepface pairs."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lethe.cli import main
from lethe.eval.scoring import (
    PairsError,
    assign_folds,
    best_threshold,
    equal_error_rate,
    error_rates,
    load_pairs,
    tar_at_far,
    threshold_at_fmr,
)


def test_lfw_pairs_file_five_folds_become_ten_balanced(testdata: Path) -> None:
    pairset = load_pairs(testdata / "lfw/pairs.txt", testdata / "lfw/images")
    assert (len(pairset.pairs), pairset.genuine, pairset.folds) == (3000, 1500, 5)
    first = pairset.pairs[0]
    assert first.same
    assert first.a == "Abel_Pacheco/Abel_Pacheco_0001.jpg"
    assert first.b.endswith("_0004.jpg")
    folds = assign_folds(pairset.pairs, pairset.folds, 10)
    same = np.array([p.same for p in pairset.pairs])
    for fold in range(10):
        assert (folds == fold).sum() == 300
        assert same[folds == fold].sum() == 150
    # Each new fold lies inside one of the file's folds.
    original = np.array([p.fold for p in pairset.pairs])
    assert all(len(set(original[folds == f])) == 1 for f in range(10))


def test_csv_pairs(testdata: Path) -> None:
    pairset = load_pairs(testdata / "faces/deepface/master.csv", testdata / "faces/deepface")
    assert pairset.folds == 0
    assert pairset.genuine > 0
    assert pairset.impostor > pairset.genuine
    folds = assign_folds(pairset.pairs, 0, 10)
    assert set(folds) == set(range(10))


def test_bad_pairs_files(tmp_path: Path, testdata: Path) -> None:
    images = testdata / "lfw/images"
    bad = tmp_path / "pairs.txt"
    bad.write_text("1 1\nAbel_Pacheco 1 4\nNobody_Here 1 Abel_Pacheco 1\n")
    with pytest.raises(PairsError, match="not in"):
        load_pairs(bad, images)
    bad.write_text("1 2\nAbel_Pacheco 1 4\n")
    with pytest.raises(PairsError, match="promises"):
        load_pairs(bad, images)
    bad.write_text("a,b,c\nx,y,z\n")
    with pytest.raises(PairsError, match="columns"):
        load_pairs(bad, images)
    with pytest.raises(PairsError, match="cannot read"):
        load_pairs(tmp_path / "absent.txt", images)


def test_metrics_on_known_scores() -> None:
    genuine = np.array([0.9, 0.8, 0.7, 0.6, 0.4])
    impostor = np.array([0.5, 0.3, 0.2, 0.1, 0.0])
    scores, same = np.concatenate([genuine, impostor]), np.array([True] * 5 + [False] * 5)
    assert error_rates(scores, same, 0.55) == (0.0, 0.2)
    assert error_rates(scores, same, 0.45) == (0.2, 0.2)
    # Best accuracy (90%) lies between 0.3 and 0.4, or between 0.5 and 0.6 (not between 0.4 and 0.5: 80%).
    best = best_threshold(scores, same)
    assert best in (pytest.approx(0.35), pytest.approx(0.55))
    assert sum(error_rates(scores, same, best)) == pytest.approx(0.2)
    eer, _ = equal_error_rate(scores, same)
    assert eer == pytest.approx(0.2)
    # FMR <= 0.2 allows one of five impostors: the threshold sits just above the second-highest (0.3).
    t = threshold_at_fmr(scores, same, 0.2)
    assert 0.3 < t < 0.3001
    assert tar_at_far(scores, same, 0.2)[0] == pytest.approx(1.0)
    # FMR <= 0.1 allows none: just above 0.5, and the genuine 0.4 is lost.
    assert tar_at_far(scores, same, 0.1)[0] == pytest.approx(0.8)


def test_separable_scores_have_zero_eer() -> None:
    scores = np.array([0.9, 0.8, 0.2, 0.1])
    same = np.array([True, True, False, False])
    assert equal_error_rate(scores, same)[0] == 0.0
    assert 0.2 < best_threshold(scores, same) < 0.8


def test_eval_verification_command_on_deepface_pairs(testdata: Path, tmp_path: Path) -> None:
    """A real run of the ONNX backend over deepface's 300 labelled pairs, with plot and cache."""
    cache, plot = tmp_path / "emb.npz", tmp_path / "roc.png"
    args = [
        "eval", "verification",
        "--pairs", str(testdata / "faces/deepface/master.csv"),
        "--images", str(testdata / "faces/deepface"),
        "--backend", "onnx", "--embedder", "mobilefacenet-112",
        "--json", "--plot", str(plot), "--cache", str(cache),
    ]  # fmt: skip
    result = CliRunner().invoke(main, args, env={"LETHE_DATA_MIRROR": os.environ["LETHE_DATA_MIRROR"]})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["model"] == "mobilefacenet-112"
    assert report["pairs"] == report["genuine_pairs"] + report["impostor_pairs"] > 250
    assert 0.95 <= report["accuracy"] <= 1.0
    assert 0.0 <= report["eer"] < 0.05
    assert set(report["tar_at_far"]) == {"0.01", "0.001"}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    with np.load(cache) as data:
        assert len(data.files) == 25  # one embedding per image, keyed by hashes: no file names
        assert not any("img" in key for key in data.files)
    # A second run reads every embedding from the cache (so does not rewrite it) and gives the same numbers.
    written = cache.stat().st_mtime_ns
    again = CliRunner().invoke(main, args, env={"LETHE_DATA_MIRROR": os.environ["LETHE_DATA_MIRROR"]})
    assert json.loads(again.stdout.strip().splitlines()[-1]) == report
    assert cache.stat().st_mtime_ns == written


def test_eval_verification_limit_progress_and_unmeasurable_far(testdata: Path) -> None:
    """--limit scores an even subset; the embedding shows a progress bar; a FAR finer than the impostors is flagged."""
    args = [
        "eval", "verification",
        "--pairs", str(testdata / "faces/deepface/master.csv"),
        "--images", str(testdata / "faces/deepface"),
        "--backend", "onnx", "--embedder", "mobilefacenet-112", "--limit", "40",
    ]  # fmt: skip
    env = {"LETHE_DATA_MIRROR": os.environ["LETHE_DATA_MIRROR"]}
    result = CliRunner().invoke(main, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["pairs"] == 40
    assert report["genuine_pairs"] > 0
    assert report["impostor_pairs"] > 0
    assert report["limit"] == 40
    assert report["unmeasured_fars"] == [0.01, 0.001]  # fewer than 100 impostor pairs: neither is measured
    assert "embedding: 100%" in result.stderr  # tqdm's bar, on stderr
    impostors = report["impostor_pairs"]
    assert f"warning: FAR 0.001 is below 1/{impostors} (one over the impostor pairs)" in result.stderr
    text = CliRunner().invoke(main, args, env=env).stdout
    assert "TAR at FAR 0.001: " in text
    assert f"not measured: FAR below 1/{impostors} impostor pairs" in text


def test_eval_verification_refuses_bad_input(tmp_path: Path, testdata: Path) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("nonsense\n")
    result = CliRunner().invoke(
        main, ["eval", "verification", "--pairs", str(pairs), "--images", str(tmp_path), "--embedder", "x"]
    )
    assert result.exit_code != 0
    assert "Traceback" not in result.output


@pytest.fixture
def tiny_pairs(testdata: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Three deepface photos and a blank image (no face), with a CSV naming same and different pairs."""
    import shutil

    import cv2

    images = tmp_path / "images"
    images.mkdir()
    for name in ("img1.jpg", "img2.jpg", "img8.jpg"):
        shutil.copy(testdata / "faces/deepface" / name, images)
    cv2.imwrite(str(images / "blank.png"), np.full((250, 250, 3), 128, np.uint8))
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "file_x,file_y,Decision\nimg1.jpg,img2.jpg,Yes\nimg1.jpg,img8.jpg,No\nimg2.jpg,img8.jpg,No\nblank.png,img1.jpg,No\n"
    )
    return pairs, images


def test_no_face_policy(tiny_pairs: tuple[Path, Path]) -> None:
    from edge.backends import create_backend
    from lethe.eval.scoring import MISS_SCORE, EmbeddingStore, score_pairs

    backend = create_backend("onnx", embedder="mobilefacenet-112")
    pairset = load_pairs(*tiny_pairs)
    rejected = score_pairs(pairset, EmbeddingStore(backend, upsample=1, no_face="reject"))
    assert (rejected.missed_images, rejected.missed_pairs, rejected.fallback_images) == (1, 1, 0)
    assert rejected.scores[3] == MISS_SCORE
    assert rejected.scores[0] > rejected.scores[1]  # same person above different people
    centred = score_pairs(pairset, EmbeddingStore(backend, upsample=1, no_face="centre"))
    assert (centred.missed_images, centred.fallback_images) == (0, 1)
    assert -1.0 < centred.scores[3] < 1.0
    np.testing.assert_allclose(centred.scores[:3], rejected.scores[:3])


def test_by_default_an_image_without_a_detected_face_is_embedded_from_its_centre(
    tiny_pairs: tuple[Path, Path],
) -> None:
    pairs, images = tiny_pairs
    args = ["eval", "verification", "--pairs", str(pairs), "--images", str(images), "--backend", "onnx"]
    args += ["--embedder", "mobilefacenet-112"]
    env = {"LETHE_DATA_MIRROR": os.environ["LETHE_DATA_MIRROR"]}
    report = json.loads(CliRunner().invoke(main, [*args, "--json"], env=env).stdout.strip().splitlines()[-1])
    assert report["no_face"] == "centre"
    assert (report["centre_box_images"], report["failed_to_template"]) == (1, {"images": 0, "pairs": 0})
    text = CliRunner().invoke(main, args, env=env).stdout
    assert "failures to detect (--no-face centre): 1 images, embedded from their central box" in text


class _CountingBackend:
    """A stand-in embedder: one fixed face per image, an embedding from the image's mean, calls counted."""

    model_id = "test-model"
    detect_width = 640
    frames_to_fuse = 5

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.embedded = 0

    def detect(self, rgb, *, upsample=0):
        from edge.backends import FaceBox

        return [FaceBox(0, 0, rgb.shape[1], rgb.shape[0])]

    def embed(self, rgb, face, *, jitters=1):
        self.embedded += 1
        return np.array([1.0, float(rgb.mean())])


def test_the_cache_never_serves_vectors_of_another_embedding_pipeline(
    tiny_pairs: tuple[Path, Path], tmp_path: Path
) -> None:
    from lethe.eval.scoring import EmbeddingStore, score_pairs

    pairset = load_pairs(*tiny_pairs)
    cache = tmp_path / "cache.npz"
    for pipeline, expected in (("chip", 4), ("chip", 0), ("chip + mirror", 4)):
        backend = _CountingBackend(pipeline)
        score_pairs(pairset, EmbeddingStore(backend, upsample=1, cache=cache))
        assert backend.embedded == expected, pipeline
