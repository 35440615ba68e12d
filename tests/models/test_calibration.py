"""Writing calibrated operating points into (a copy of) the model manifest."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from models.calibration import write_calibration
from models.registry import MANIFEST_PATH, ModelError, load_manifest

POINTS = [
    {"target_fmr": 0.001, "threshold": 0.3321, "cv_fmr": 0.00098, "cv_fnmr": 0.031, "cv_fmr_ci95": [0.0009, 0.0011]},
    {"target_fmr": 0.0001, "threshold": 0.4012, "cv_fmr": 0.000101, "cv_fnmr": 0.079},
]


def test_write_calibration_keeps_comments_and_other_entries(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.toml"
    shutil.copy(MANIFEST_PATH, manifest)
    before = manifest.read_text()
    calibration = {"data": "testdata/lfw/images", "impostor_pairs": 1_000_000, "seed": 19795}
    write_calibration("mobilefacenet-112", POINTS, calibration, path=manifest)
    assert manifest.read_text().startswith(before.split("\n[models.", 1)[0])  # the header comments are untouched
    parsed = load_manifest(manifest)
    entry = parsed.get("mobilefacenet-112")
    assert entry.calibration == calibration
    assert parsed.threshold("mobilefacenet-112") == 0.3321
    strict = entry.operating_point(1e-4)
    assert (strict.threshold, strict.expected_fmr, strict.expected_fnmr) == (0.4012, 0.000101, 0.079)
    assert entry.operating_point(1e-3).measured["cv_fmr_ci95"] == [0.0009, 0.0011]
    with MANIFEST_PATH.open("rb") as f:
        original = tomllib.load(f)["models"]
    for name, raw in original.items():
        if name != "mobilefacenet-112":
            assert parsed.get(name).operating_points == load_manifest().get(name).operating_points, name
            assert "operating_points" in raw or not parsed.get(name).operating_points
    # Calibrating again replaces the points and the table instead of adding more.
    write_calibration("mobilefacenet-112", POINTS[:1], {"seed": 1}, path=manifest)
    again = load_manifest(manifest).get("mobilefacenet-112")
    assert (len(again.operating_points), again.calibration) == (1, {"seed": 1})


def test_write_calibration_refuses_non_embedders_and_a_missing_default_point(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.toml"
    shutil.copy(MANIFEST_PATH, manifest)
    with pytest.raises(ModelError):
        write_calibration("yunet-2023mar", POINTS, {}, path=manifest)
    with pytest.raises(ModelError):
        write_calibration("no-such-model", POINTS, {}, path=manifest)
    with pytest.raises(ModelError, match=r"no threshold calibrated for FMR 0\.001"):
        write_calibration("mobilefacenet-112", POINTS[1:], {}, path=manifest)
    assert manifest.read_text() == MANIFEST_PATH.read_text()
