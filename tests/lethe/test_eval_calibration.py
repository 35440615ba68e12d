"""Identity-disjoint calibration: pairs, rates and intervals on known inputs, the rule of 30, and the command."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lethe.cli import main
from lethe.eval.calibration import (
    CalibrationError,
    HeldOut,
    Rate,
    calibrate,
    calibrated_threshold,
    genuine_pairs,
    identity_bootstrap,
    identity_folds,
    impostor_pairs,
    load_identities,
    minimum_impostors,
    threshold_for_fmr,
)


def test_clopper_pearson_on_known_values() -> None:
    # 0 of n: the upper bound solves (1 - p)^n = 0.025 (for large n about 3.7/n, the "rule of three" at 97.5%).
    assert Rate(0, 1000).interval() == (0.0, pytest.approx(1 - 0.025 ** (1 / 1000)))
    # 5 of 10: the textbook exact interval [0.1871, 0.8129].
    low, high = Rate(5, 10).interval()
    assert (round(low, 4), round(high, 4)) == (0.1871, 0.8129)
    assert Rate(10, 10).interval()[1] == 1.0
    assert (Rate(1, 4) + Rate(2, 6)) == Rate(3, 10)


def test_rule_of_30_refuses_a_threshold_the_impostors_cannot_place() -> None:
    assert (minimum_impostors(1e-3), minimum_impostors(1e-4)) == (30_000, 300_000)
    scores = np.random.default_rng(0).normal(size=30_000)
    assert calibrated_threshold(scores, 1e-3) >= threshold_for_fmr(scores, 1e-3)
    with pytest.raises(CalibrationError, match=r"FMR 0.001 needs at least 30,000 .* rule of 30.* gives 29,999"):
        calibrated_threshold(scores[:-1], 1e-3)


def test_threshold_lets_at_most_the_target_share_of_impostors_through_and_is_rounded_up() -> None:
    scores = np.linspace(0.0, 0.99999, 100_000)
    threshold = calibrated_threshold(scores, 1e-3)
    assert threshold == math.ceil(threshold * 1e4) / 1e4
    assert (scores >= threshold).sum() <= 100
    assert (scores >= threshold - 1e-4).sum() > 100  # one step lower lets too many through


def test_genuine_pairs_are_every_same_identity_pair() -> None:
    labels = np.array([2, 0, 0, 1, 1, 1, 3])
    first, second = genuine_pairs(labels)
    assert len(first) == 1 + 3  # identity 0: one pair; identity 1: three; 2 and 3: none
    assert (labels[first] == labels[second]).all()
    assert len({(min(a, b), max(a, b)) for a, b in zip(first, second, strict=True)}) == 4


def test_impostor_pairs_all_or_a_deterministic_uniform_sample() -> None:
    labels = np.repeat(np.arange(40), 3)  # 120 images: 7,140 pairs, 120 of them same-identity
    first, second = impostor_pairs(labels, 10_000, np.random.default_rng(1))
    assert len(first) == 7_140 - 120
    assert (labels[first] != labels[second]).all()
    sample = impostor_pairs(labels, 2_000, np.random.default_rng(1))
    assert len(sample[0]) == 2_000
    assert (labels[sample[0]] != labels[sample[1]]).all()
    assert (sample[0] < sample[1]).all()
    assert len(set(zip(*sample, strict=True))) == 2_000  # without replacement
    again = impostor_pairs(labels, 2_000, np.random.default_rng(1))
    assert all((a == b).all() for a, b in zip(sample, again, strict=True))
    other = impostor_pairs(labels, 2_000, np.random.default_rng(2))
    assert set(zip(*sample, strict=True)) != set(zip(*other, strict=True))
    # Uniform over images: each image is in about 2 * 2,000 / 120 sampled pairs.
    counts = np.bincount(np.concatenate(sample), minlength=120)
    assert counts.min() > 15
    assert counts.max() < 55


def test_identity_folds_keep_each_person_in_one_fold_and_balance_images() -> None:
    labels = np.repeat(np.arange(50), np.arange(50) % 7 + 1)
    folds = identity_folds(labels, 5, np.random.default_rng(3))
    for identity in range(50):
        assert len(set(folds[labels == identity])) == 1
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= 7
    with pytest.raises(CalibrationError, match="5 folds need at least 5 people"):
        identity_folds(np.array([0, 0, 1, 1]), 5, np.random.default_rng(3))


def test_bootstrap_by_person_is_wider_than_clopper_pearson_when_errors_share_a_person() -> None:
    # 40 people in one fold; every pair of people compared once; the 20 false matches all involve person 0.
    a, b = np.triu_indices(40, 1)
    errors = (a == 0) & (b <= 20)
    held_out = HeldOut(a.astype(np.int64), b.astype(np.int64), (errors,))
    (((fmr_low, fmr_high), _),) = identity_bootstrap(held_out, np.zeros(40, np.int64), np.random.default_rng(4))
    cp_low, cp_high = Rate(int(errors.sum()), len(errors)).interval()
    assert fmr_low < cp_low
    assert fmr_high > cp_high
    assert fmr_low == 0.0  # person 0 is left out of a good share of the replicates
    clean = HeldOut(a.astype(np.int64), b.astype(np.int64), (np.zeros(len(a), bool),))
    assert identity_bootstrap(clean, np.zeros(40, np.int64), np.random.default_rng(4))[0][0] == (0.0, 0.0)


def _synthetic_templates(people: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around one random centre per person, 1 to 6 images each: a seeded stand-in for embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, 32))
    labels = np.repeat(np.arange(people), rng.integers(1, 7, size=people))
    vectors = centres[labels] / np.sqrt(32) * 1.3 + rng.normal(size=(len(labels), 32)) / np.sqrt(32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), labels


def test_thresholds_calibrated_on_some_people_hold_on_others() -> None:
    vectors, labels = _synthetic_templates(700, seed=5)
    result = calibrate(vectors, labels, (1e-2, 1e-3), impostor_pairs_limit=200_000, folds=5, seed=6)
    loose, strict = result.points
    assert result.identities == 700
    assert len(result.impostor) == 200_000
    assert result.cv_genuine_pairs == len(result.genuine)  # every same-person pair is tested once
    assert result.cv_impostor_pairs >= minimum_impostors(1e-3)
    assert loose.threshold < strict.threshold
    assert loose.fnmr.value < strict.fnmr.value
    for point in result.points:
        assert point.fmr.value <= point.target_fmr
        assert len(point.fold_thresholds) == 5
        low, high = point.cv_fmr_by_identity
        assert low <= point.target_fmr <= high, point
        assert point.holds
        assert point.cv_fmr_by_identity[1] - low > np.subtract(*point.cv_fmr.interval()[::-1])
    again = calibrate(vectors, labels, (1e-2, 1e-3), impostor_pairs_limit=200_000, folds=5, seed=6)
    assert [p.as_dict() for p in again.points] == [p.as_dict() for p in result.points]


def test_calibration_refuses_a_target_the_held_out_people_cannot_measure() -> None:
    vectors, labels = _synthetic_templates(200, seed=7)  # about 700 images: 240,000 pairs, 48,000 per held-out fold
    with pytest.raises(CalibrationError, match=r"FMR 0.0001 needs at least 300,000"):
        calibrate(vectors, labels, (1e-4,), folds=5, seed=1)


# --- the command, on a few real LFW people ------------------------------------------------------------------


@pytest.fixture
def few_people(testdata: Path, tmp_path: Path) -> Path:
    """Twelve LFW people with three images each, copied to a temporary folder."""
    source = testdata / "lfw/images"
    chosen = [d for d in sorted(source.iterdir()) if len(list(d.iterdir())) >= 3][:12]
    for person in chosen:
        (tmp_path / "people" / person.name).mkdir(parents=True)
        for image in sorted(person.iterdir())[:3]:
            shutil.copy(image, tmp_path / "people" / person.name)
    return tmp_path / "people"


def _run(args: list[str]) -> object:
    return CliRunner().invoke(main, args, env={"LETHE_DATA_MIRROR": os.environ["LETHE_DATA_MIRROR"]})


def test_calibrate_command_reports_and_refuses(few_people: Path, tmp_path: Path) -> None:
    from models.registry import MANIFEST_PATH

    manifest = tmp_path / "manifest.toml"
    shutil.copy(MANIFEST_PATH, manifest)
    base = ["eval", "calibrate", "--backend", "onnx", "--embedder", "mobilefacenet-112", "--images", str(few_people)]
    base += ["--manifest", str(manifest), "--folds", "2", "--cache", str(tmp_path / "cache.npz")]
    # 36 images give 594 different-person pairs: the default FMR 1e-3 needs 30,000.
    refused = _run(base)
    assert refused.exit_code == 1
    assert "FMR 0.001 needs at least 30,000 different-person pairs" in refused.output
    assert "Traceback" not in refused.output
    assert manifest.read_text() == MANIFEST_PATH.read_text()
    dry = _run([*base, "--target-fmr", "0.25", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout.strip().splitlines()[-1])
    assert (report["images"], report["identities"], report["genuine_pairs"]) == (36, 12, 36)
    assert report["impostor_pairs"] == report["impostor_pairs_available"] == 594
    (point,) = report["operating_points"]
    assert point["target_fmr"] == 0.25
    assert point["false_matches"] <= 0.25 * 594
    assert point["cv_fmr_ci95"][0] <= point["cv_fmr"] <= point["cv_fmr_ci95"][1]
    assert "--folds 2 --seed 19795 --target-fmr 0.25" in report["command"]
    assert manifest.read_text() == MANIFEST_PATH.read_text()
    # Writing only FMR 0.25 would leave the embedder without the default operating point: refused, file unchanged.
    partial = _run([*base, "--target-fmr", "0.25"])
    assert partial.exit_code == 1
    assert "no threshold calibrated for FMR 0.001" in partial.output
    assert manifest.read_text() == MANIFEST_PATH.read_text()


def test_calibration_images_need_one_folder_per_person(tmp_path: Path, few_people: Path) -> None:
    with pytest.raises(CalibrationError, match="not a folder"):
        load_identities(tmp_path / "absent")
    loose = tmp_path / "loose"
    loose.mkdir()
    shutil.copy(next(next(few_people.iterdir()).iterdir()), loose / "a.jpg")
    with pytest.raises(CalibrationError, match="one folder per person"):
        load_identities(loose)
    single = tmp_path / "single"
    for person in sorted(few_people.iterdir())[:3]:
        (single / person.name).mkdir(parents=True)
        shutil.copy(next(person.iterdir()), single / person.name)
    with pytest.raises(CalibrationError, match="no person with two images"):
        load_identities(single)
    identity_set = load_identities(few_people)
    assert (len(identity_set.paths), identity_set.identities) == (36, 12)
