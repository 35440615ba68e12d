"""Every model the kiosk's default configuration loads, on either backend, may be used commercially."""

from __future__ import annotations

from pathlib import Path

import pytest

import edge.backends.dlib
import edge.backends.dlib_chip
import edge.backends.onnx
import edge.landmarks
import edge.liveness
from edge.backends import create_backend
from edge.kiosk import backend_options
from edge.landmarks import LandmarkModel
from edge.liveness import PassiveLiveness
from edge.settings import KioskSettings
from models import load_manifest, registry
from tests.edge.fresh_python import check_in_fresh_python

CONSUMERS = (edge.backends.dlib, edge.backends.dlib_chip, edge.backends.onnx, edge.landmarks, edge.liveness)


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the models asked for, wherever the kiosk's modules ask for one."""
    asked: list[str] = []
    real = registry.model_path

    def spy(name: str, **options: object) -> Path:
        asked.append(name)
        return real(name, **options)  # type: ignore[arg-type]

    for module in (registry, *CONSUMERS):
        if getattr(module, "model_path", None) is real:
            monkeypatch.setattr(module, "model_path", spy)
    return asked


@pytest.mark.parametrize("backend", ["dlib", "onnx"])
def test_the_default_configuration_loads_only_models_for_commercial_use(
    backend: str, loaded: list[str], data_mirror: Path
) -> None:
    settings = KioskSettings(backend=backend)  # every other setting at its default
    create_backend(settings.backend, **backend_options(settings))
    LandmarkModel(settings.landmarks)
    PassiveLiveness()
    manifest = load_manifest()
    assert "dlib-resnet-v1" in loaded or "dlib-resnet-v1-onnx" in loaded
    assert {"mediapipe-face-landmark", "minifasnet-v2", "minifasnet-v1se"} <= set(loaded)
    assert [name for name in loaded if not manifest.get(name).commercial_use] == []


def test_the_comparison_model_is_marked_and_refused_by_the_check(loaded: list[str], data_mirror: Path) -> None:
    """The check above can fail: dlib's 68 points, loaded on request, are not for commercial use."""
    LandmarkModel("dlib-68")
    assert not load_manifest().get(loaded[-1]).commercial_use


def test_the_dlib_backend_does_not_import_face_recognition(data_mirror: Path) -> None:
    """face_recognition loads every dlib model at import, the 68-point one among them."""
    check = (
        "import sys\n"
        "from edge.backends import create_backend\n"
        "create_backend('dlib')\n"
        "assert 'face_recognition' not in sys.modules, 'face_recognition imported'\n"
    )
    check_in_fresh_python(check, data_mirror)
