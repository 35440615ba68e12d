"""The model and media manifests: every file verifies; a file with another hash is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models import MediaError, ModelError, fetch_model, load_manifest, media_path, model_path
from models.media import load_media


def test_every_embedder_has_a_cosine_threshold_at_the_default_fmr() -> None:
    manifest = load_manifest()
    assert {"dlib-resnet-v1", "mobilefacenet-112"} <= {e.name for e in manifest.embedders}
    for entry in manifest.embedders:
        assert entry.metric == "cosine"
        assert 0 < manifest.threshold(entry.name) == manifest.threshold(entry.name, 1e-3) < 1


def test_calibrated_embedders_state_both_operating_points_and_what_they_give_on_new_people() -> None:
    manifest = load_manifest()
    for name in ("dlib-resnet-v1", "mobilefacenet-112"):
        entry = manifest.get(name)
        assert entry.calibration is not None
        assert entry.calibration["impostor_pairs"] >= 300_000
        assert entry.calibration["seed"] is not None
        loose, strict = entry.operating_point(1e-3), entry.operating_point(1e-4)
        assert loose.threshold < strict.threshold
        for point in (loose, strict):
            assert point.expected_fmr is not None
            assert point.expected_fnmr is not None
            low, high = point.measured["cv_fmr_ci95_by_identity"]
            assert low <= point.target_fmr <= high, (name, point.target_fmr)
            assert point.measured["cv_false_matches"] >= 30


def test_a_missing_operating_point_is_named() -> None:
    with pytest.raises(ModelError, match=r"no threshold calibrated for FMR 0\.01"):
        load_manifest().threshold("mobilefacenet-112", 1e-2)
    with pytest.raises(ModelError, match="not an embedder"):
        load_manifest().threshold("yunet-2023mar")


def test_dlib_models_come_from_their_package_and_verify() -> None:
    for name in ("dlib-resnet-v1", "dlib-shape-predictor-5", "dlib-shape-predictor-68", "dlib-mmod-detector"):
        assert "face_recognition_models" in str(model_path(name))


def test_mirrored_models_verify(data_mirror: Path, tmp_path: Path) -> None:
    for name in ("yunet-2023mar", "minifasnet-v2", "minifasnet-v1se", "mobilefacenet-112"):
        assert model_path(name, cache_dir=tmp_path, mirror=data_mirror / "models").parent == data_mirror / "models"


def test_fetch_copies_from_the_mirror_into_the_cache(data_mirror: Path, tmp_path: Path) -> None:
    path = fetch_model("yunet-2023mar", cache_dir=tmp_path / "cache", mirror=data_mirror / "models")
    assert path == tmp_path / "cache" / "face_detection_yunet_2023mar.onnx"
    assert model_path("yunet-2023mar", cache_dir=tmp_path / "cache", mirror=tmp_path / "nowhere") == path


def test_a_file_with_another_hash_is_refused(data_mirror: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    original = data_mirror / "models" / "face_detection_yunet_2023mar.onnx"
    tampered = bytearray(original.read_bytes())
    tampered[1000] ^= 0xFF
    (mirror / original.name).write_bytes(bytes(tampered))
    with pytest.raises(ModelError, match="refusing"):
        fetch_model("yunet-2023mar", cache_dir=tmp_path / "cache", mirror=mirror)
    assert not (tmp_path / "cache" / original.name).exists()
    assert list((tmp_path / "cache").iterdir()) == []
    with pytest.raises(ModelError, match="refusing"):
        model_path("yunet-2023mar", cache_dir=tmp_path / "cache", mirror=mirror)


def test_missing_model_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="lethe models fetch"):
        model_path("sface-2021dec", cache_dir=tmp_path, mirror=tmp_path)
    with pytest.raises(ModelError, match="unknown model"):
        model_path("no-such-model")


def test_sample_media_verify(data_mirror: Path) -> None:
    for name in load_media():
        assert media_path(name, mirror=data_mirror).is_file()


def test_missing_media_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(MediaError, match="LETHE_DATA_MIRROR"):
        media_path("hamilton-clip", mirror=tmp_path)


def test_media_fetch_from_mirror(data_mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from models import fetch_media

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = fetch_media("lin-manuel-miranda", mirror=data_mirror)
    assert path.is_relative_to(tmp_path)
    shutil.rmtree(tmp_path / "lethe")
