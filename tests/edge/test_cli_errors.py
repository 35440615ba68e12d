"""The kiosk commands' errors point the right way: what is wrong, and what to do."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edge.backends import Embedder
from edge.cli import kiosk
from edge.errors import IdImageUnreadable, NoFaceInIdImage
from edge.identity import KioskIdentity, save_identity
from edge.idrecord import id_template_from_image
from protocol import SigningKey


def test_register_never_replaces_an_identity_without_force(tmp_path: Path) -> None:
    key_file = tmp_path / "kiosk.json"
    kiosk_id = "0b7c6a1e-4f1d-4e55-9a53-7d0f0c1e2a3b"
    save_identity(key_file, KioskIdentity(uuid.UUID(kiosk_id), SigningKey.generate(), "http://127.0.0.1:9"))
    before = key_file.read_bytes()
    result = CliRunner().invoke(
        kiosk, ["register", "--service", "http://127.0.0.1:9", "--code", "ABCD-EFGH", "--key-file", str(key_file)]
    )
    assert result.exit_code == 2
    assert f"already holds kiosk {kiosk_id}" in result.output
    assert "--force" in result.output
    assert key_file.read_bytes() == before
    assert json.loads(before)["kiosk_id"] == kiosk_id


def test_a_missing_id_image_is_named_not_blamed_on_the_camera(dlib_backend: Embedder, tmp_path: Path) -> None:
    with pytest.raises(IdImageUnreadable) as missing:
        id_template_from_image(dlib_backend, tmp_path / "id.png", jitters=1)
    assert missing.value.detail == f"the ID image {tmp_path / 'id.png'} does not exist"
    assert "--id-image" in missing.value.guidance
    assert "camera" not in missing.value.guidance
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(IdImageUnreadable, match="is not a readable image"):
        id_template_from_image(dlib_backend, tmp_path / "notes.png", jitters=1)


def test_an_id_photo_without_a_face_gets_photo_advice(dlib_backend: Embedder, tmp_path: Path) -> None:
    blank = tmp_path / "blank-id.png"
    assert cv2.imwrite(str(blank), np.full((400, 600, 3), 200, np.uint8))
    with pytest.raises(NoFaceInIdImage) as refused:
        id_template_from_image(dlib_backend, blank, jitters=1)
    assert refused.value.code == "no-face-in-id-image"
    assert "closer" not in refused.value.guidance
    assert "camera" not in refused.value.guidance
    assert "photo or scan of the ID document's portrait page" in refused.value.guidance
