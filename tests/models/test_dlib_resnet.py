"""The converter of dlib's face-recognition ResNet to ONNX: deterministic, pinned, and strict about its input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from models import ModelError, load_manifest, model_path
from models.dlib_format import DlibFormatError
from models.dlib_resnet import convert, read_network
from models.registry import convert_model


@pytest.fixture(scope="module")
def dat() -> Path:
    return model_path("dlib-resnet-v1")


def test_two_conversions_give_the_bytes_the_manifest_pins(dat: Path, tmp_path: Path) -> None:
    first, second = convert(dat, tmp_path / "a.onnx"), convert(dat, tmp_path / "b.onnx")
    assert first.read_bytes() == second.read_bytes()
    assert hashlib.sha256(first.read_bytes()).hexdigest() == load_manifest().get("dlib-resnet-v1-onnx").sha256


def test_the_network_read_is_dlibs(dat: Path) -> None:
    means, layers = read_network(dat.read_bytes())
    assert means.tolist() == pytest.approx([122.782, 117.001, 104.298], abs=1e-3)  # dlib's input_rgb_image means
    kinds = [layer.kind for layer in layers]
    assert kinds.count("con") == 29
    assert kinds.count("add_prev") == 14
    assert kinds[-1] == "fc"
    assert layers[-1].weights[0].shape == (256, 128)


def test_a_file_that_is_not_the_network_is_refused(dat: Path, tmp_path: Path) -> None:
    data = dat.read_bytes()
    with pytest.raises(DlibFormatError, match="ends early"):
        read_network(data[: len(data) // 2])
    with pytest.raises(DlibFormatError, match="bytes after the network"):
        read_network(data + b"\x00")
    with pytest.raises(DlibFormatError):
        read_network(model_path("dlib-shape-predictor-5").read_bytes())


def test_made_on_first_use_and_a_changed_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "nowhere"
    made = model_path("dlib-resnet-v1-onnx", cache_dir=tmp_path / "cache", mirror=empty)
    assert made == tmp_path / "cache" / "dlib_face_recognition_resnet_model_v1.onnx"
    tampered = bytearray(made.read_bytes())
    tampered[-1] ^= 1
    made.write_bytes(bytes(tampered))
    with pytest.raises(ModelError, match="refusing"):
        model_path("dlib-resnet-v1-onnx", cache_dir=tmp_path / "cache", mirror=empty)
    with pytest.raises(ModelError, match="not made by conversion"):
        convert_model("yunet-2023mar", cache_dir=tmp_path / "cache", mirror=empty)
