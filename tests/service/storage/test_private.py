"""Personal data stays owner-only whatever the umask: the instance folder, the SQLite files, CLI exports."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from service.app import create_app
from service.settings import Settings
from service.storage import migrate
from service.storage.db import Database
from service.storage.private import private_file, private_folder, write_private
from service.web.context import EXTENSION


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_a_new_sqlite_database_and_its_wal_are_0600(tmp_path: Path) -> None:
    path = tmp_path / "lethe.sqlite3"
    database = Database(f"sqlite:///{path}")
    try:
        with database.transaction() as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
        assert (tmp_path / "lethe.sqlite3-wal").exists()
        for name in ("lethe.sqlite3", "lethe.sqlite3-wal", "lethe.sqlite3-shm"):
            assert mode(tmp_path / name) == 0o600, name
    finally:
        database.dispose()


@pytest.mark.usefixtures("open_umask")
def test_a_loose_instance_folder_and_database_are_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    instance.chmod(0o755)
    url = f"sqlite:///{instance / 'lethe.sqlite3'}"
    migrate.upgrade(url)
    (instance / "lethe.sqlite3").chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="service.storage.private"):
        Database(url).dispose()
    assert mode(instance / "lethe.sqlite3") == 0o600
    warned = [r.getMessage() for r in caplog.records if r.name == "service.storage.private"]
    assert any("was mode 0644" in m and "lethe.sqlite3" in m for m in warned)
    caplog.clear()
    (instance / "lethe.sqlite3").chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="service.storage.private"):
        app = create_app(Settings(instance_path=instance, database_url=url))
    try:
        assert mode(instance) == 0o700
        assert mode(instance / "lethe.sqlite3") == 0o600
        warned = [r.getMessage() for r in caplog.records if r.name == "service.storage.private"]
        assert any("was mode 0755" in m and str(instance) in m for m in warned)
    finally:
        app.extensions[EXTENSION].db.dispose()


@pytest.mark.usefixtures("open_umask")
def test_private_helpers_whatever_the_umask(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    private_folder(folder)
    assert mode(folder) == 0o700
    private_file(folder / "new")
    assert mode(folder / "new") == 0o600
    loose = folder / "loose.json"
    loose.write_text("old")
    loose.chmod(0o666)
    write_private(loose, "new")
    assert (mode(loose), loose.read_text()) == (0o600, "new")
    write_private(folder / "fresh.json", "{}")
    assert mode(folder / "fresh.json") == 0o600
