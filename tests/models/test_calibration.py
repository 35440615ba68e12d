"""Writing a calibrated threshold into (a copy of) the model manifest."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from models.calibration import write_threshold
from models.registry import MANIFEST_PATH, ModelError, load_manifest


def test_write_threshold_keeps_comments_and_other_entries(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.toml"
    shutil.copy(MANIFEST_PATH, manifest)
    before = manifest.read_text()
    calibration = {"target_fmr": 0.001, "fmr": 0.00057, "fnmr": 0.031, "data": ["testdata/lfw/pairs.txt"]}
    write_threshold("mobilefacenet-112", 0.3321, "calibrated", calibration, path=manifest)
    after = manifest.read_text()
    assert after.startswith(before.split("\n[models.", 1)[0])  # the header comments are untouched
    parsed = load_manifest(manifest)
    entry = parsed.get("mobilefacenet-112")
    assert entry.threshold == 0.3321
    assert entry.threshold_note == "calibrated"
    assert entry.calibration == calibration
    with MANIFEST_PATH.open("rb") as f:
        original = tomllib.load(f)["models"]
    for name, raw in original.items():
        if name != "mobilefacenet-112":
            assert parsed.get(name).threshold == raw.get("threshold")
    # Calibrating again replaces the table instead of adding a second one.
    write_threshold("mobilefacenet-112", 0.34, "again", {"fmr": 0.0}, path=manifest)
    assert load_manifest(manifest).get("mobilefacenet-112").calibration == {"fmr": 0.0}


def test_write_threshold_refuses_non_embedders(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.toml"
    shutil.copy(MANIFEST_PATH, manifest)
    with pytest.raises(ModelError):
        write_threshold("yunet-2023mar", 0.5, "x", {}, path=manifest)
    with pytest.raises(ModelError):
        write_threshold("no-such-model", 0.5, "x", {}, path=manifest)
    assert manifest.read_text() == MANIFEST_PATH.read_text()
