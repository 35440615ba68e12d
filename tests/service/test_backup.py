"""Backup, restore and upgrade, run as the CLI runs them: a restored backup never brings a deleted stay back."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from lethe.cli import main
from service import keyring
from service.stays.reservations import create_reservation
from service.storage import migrate
from service.storage.db import Database
from service.storage.tables import AuditEntry, Stay, StayKey, StoredTemplate

PREVIOUS_RELEASE_HEAD = "0500_kiosk_state"


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("LETHE_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("LETHE_DATABASE_URL", database_url)
    db = Database(database_url)
    yield db
    db.dispose()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _stays(db: Database, tmp_path: Path, *names: str) -> list[str]:
    """Reservations checked in by hand, each with a data key and a stored template (ciphertext stand-in)."""
    today = dt.datetime.now(dt.UTC).date()
    ring = keyring.load_or_create(tmp_path / "instance" / "keys")
    references = []
    with db.transaction() as session:
        for n, name in enumerate(names):
            stay = create_reservation(session, ring, guest_name=name, arrival=today, departure=today, actor="t").stay
            stay.status = "checked_in"
            session.add(StoredTemplate(stay_id=stay.id, model_id="m", ciphertext=bytes([n + 1]) * 64))
            references.append(stay.reference)
    return references


def _held(db: Database, reference: str) -> tuple[str | None, int, int]:
    """The stay's status (None when erased), and how many data keys and templates it holds."""
    with db.transaction() as session:
        stay = session.scalars(select(Stay).where(Stay.reference == reference)).one_or_none()
        if stay is None:
            return None, 0, 0
        keys = session.scalar(select(func.count()).select_from(StayKey).where(StayKey.stay_id == stay.id)) or 0
        templates = session.scalar(
            select(func.count()).select_from(StoredTemplate).where(StoredTemplate.stay_id == stay.id)
        )
        return stay.status, keys, templates or 0


def test_a_restored_backup_does_not_bring_back_stays_deleted_since(env: Database, tmp_path: Path) -> None:
    assert run("init")[0] == 0
    kept, checked_out, erased = _stays(env, tmp_path, "Kay Kept", "Otto Out", "Erin Erased")
    archive = tmp_path / "backup.tar.gz"
    status, out = run("backup", "--output", str(archive))
    assert status == 0, out
    assert archive.stat().st_mode & 0o777 == 0o600
    assert run("backup", "--output", str(archive))[0] == 1  # never over an existing file
    assert run("stay", "checkout", checked_out)[0] == 0
    assert run("stay", "erase", erased, "--reason", "guest asked", "--yes")[0] == 0
    log = tmp_path / "deletions.json"
    status, out = run("audit", "deletions", "--output", str(log))
    assert status == 0, out
    assert log.stat().st_mode & 0o777 == 0o600
    assert "Otto" not in log.read_text()  # stay ids, actions and times only

    status, out = run("restore", str(archive), "--yes")
    assert status == 0, out
    assert "2 stay(s) deleted again" in out
    assert _held(env, kept) == ("checked_in", 1, 1)
    assert _held(env, checked_out) == ("checked_out", 0, 0)
    assert _held(env, erased) == (None, 0, 0)
    status, out = run("audit", "verify")
    assert status == 0, out
    with env.transaction() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-1] == "instance.restore"
    assert actions.count("stay.deletion-reapplied") == 1


def test_after_losing_the_database_the_exported_deletion_log_keeps_deleted_stays_deleted(
    env: Database, tmp_path: Path
) -> None:
    if not env.is_sqlite:
        pytest.skip("losing the file is SQLite's case; PostgreSQL restores over the live schema the same way")
    assert run("init")[0] == 0
    (checked_out,) = _stays(env, tmp_path, "Otto Out")
    archive, log = tmp_path / "backup.tar.gz", tmp_path / "deletions.json"
    assert run("backup", "--output", str(archive))[0] == 0
    assert run("stay", "checkout", checked_out)[0] == 0
    assert run("audit", "deletions", "--output", str(log))[0] == 0
    env.dispose()
    instance = tmp_path / "instance"
    keys_before = sorted(p.name for p in (instance / "keys").glob("*.key"))
    shutil.rmtree(instance)  # the server is lost: its database and its key folder
    database = Path(env.engine.url.database or "")
    database.parent.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    status, out = run("restore", str(archive), "--yes", "--deletions", str(log))
    assert status == 0, out
    assert _held(env, checked_out) == ("checked_out", 0, 0)
    assert sorted(p.name for p in (instance / "keys").glob("*.key")) == keys_before
    assert {(instance / "keys" / name).stat().st_mode & 0o777 for name in keys_before} == {0o600}
    assert (instance / "keys").stat().st_mode & 0o777 == 0o700


def test_restore_refuses_a_changed_archive(env: Database, tmp_path: Path) -> None:
    assert run("init")[0] == 0
    _stays(env, tmp_path, "Kay Kept")
    archive = tmp_path / "backup.tar.gz"
    assert run("backup", "--output", str(archive))[0] == 0
    changed = tmp_path / "changed.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(changed, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member)
            assert data is not None
            body = data.read()
            if member.name.startswith("keys/"):
                body = body.replace(b'"secret": "', b'"secret": "A')
                member.size = len(body)
            target.addfile(member, io.BytesIO(body))
    status, out = run("restore", str(changed), "--yes")
    assert status == 1
    assert "does not match its SHA-256" in out


def test_db_upgrade_from_the_previous_release_schema_keeps_the_data_and_the_chain(
    env: Database, tmp_path: Path
) -> None:
    migrate.upgrade(str(env.url), PREVIOUS_RELEASE_HEAD)
    (reference,) = _stays(env, tmp_path, "Old Release")
    status, out = run("db", "upgrade")
    assert status == 0, out
    assert f"upgraded from schema {PREVIOUS_RELEASE_HEAD} to {migrate.current(str(env.url))}" in out
    assert run("db", "upgrade")[1].startswith("database is up to date")
    receipt = tmp_path / "receipt.json"
    assert run("stay", "checkout", reference, "--receipt", str(receipt))[0] == 0
    assert json.loads(receipt.read_text())["receipt"]["claims"]["version"] == 2
    status, out = run("audit", "verify")
    assert status == 0, out
    assert "1 signed checkpoint(s) match" in out
    assert os.stat(tmp_path / "instance" / "keys").st_mode & 0o777 == 0o700
