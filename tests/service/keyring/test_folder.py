"""The key folder: created private on first start, reloaded unchanged, refused when too open."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from service.keyring import KINDS, KeyringError, add_key, load_or_create


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_creates_one_private_key_of_each_kind(tmp_path: Path) -> None:
    ring = load_or_create(tmp_path / "keys")
    files = sorted((tmp_path / "keys").iterdir())
    assert mode(tmp_path / "keys") == 0o700
    assert len(files) == len(KINDS)
    assert all(mode(f) == 0o600 for f in files)
    assert {k.suite.label for k in ring.hpke} == {"mlkem768-x25519", "x25519"}
    assert "secret" not in repr(ring)
    assert "keks" not in repr(ring)


def test_reload_gives_the_same_keys(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    second = load_or_create(tmp_path)
    assert [k.raw for k in first.hpke] == [k.raw for k in second.hpke]
    assert first.keks == second.keks
    assert first.receipt_key.raw == second.receipt_key.raw


def test_newest_key_first_and_all_kept(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    added = add_key(tmp_path, "kek")
    ring = load_or_create(tmp_path)
    assert ring.current_kek_id == added.key_id
    assert set(first.keks) < set(ring.keks)


def test_world_readable_key_is_refused(tmp_path: Path) -> None:
    load_or_create(tmp_path)
    victim = next(tmp_path.iterdir())
    os.chmod(victim, 0o644)
    with pytest.raises(KeyringError, match="chmod 0600"):
        load_or_create(tmp_path)
