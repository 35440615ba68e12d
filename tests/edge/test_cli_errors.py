"""The kiosk commands' errors point the right way: what is wrong, and what to do."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from click.testing import CliRunner

from edge.cli import kiosk
from edge.identity import KioskIdentity, save_identity
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
