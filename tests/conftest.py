"""Shared fixtures: data mirror, database URLs (SQLite and PostgreSQL), app, client, domain helpers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from service.app import create_app
from service.settings import Settings
from service.storage import migrate
from service.web.context import EXTENSION, Service

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ENV = "LETHE_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def data_mirror() -> Path:
    """The folder holding ``testdata/`` and ``models/`` (``LETHE_DATA_MIRROR``, default ``../shared``)."""
    mirror = Path(os.environ.get("LETHE_DATA_MIRROR") or ROOT.parent / "shared")
    if not (mirror / "testdata").is_dir():
        pytest.fail(
            f"test data missing: {mirror / 'testdata'} does not exist. Set LETHE_DATA_MIRROR to the folder "
            "that holds testdata/ and models/ (../shared on the project machines).",
            pytrace=False,
        )
    os.environ.setdefault("LETHE_DATA_MIRROR", str(mirror))
    return mirror


@pytest.fixture(scope="session")
def testdata(data_mirror: Path) -> Path:
    return data_mirror / "testdata"


def _postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lethe.sqlite3'}"
        return
    base = _postgres_url()
    if base is None:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    schema = f"lethe_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# The service's Flask app on a fresh, migrated database: shared by the service and panel tests.
@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(instance_path=tmp_path / "instance", database_url=database_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    migrate.upgrade(settings.resolved_database_url)
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions[EXTENSION].db.dispose()


@pytest.fixture
def svc(app: Flask) -> Service:
    found: Service = app.extensions[EXTENSION]
    return found
