"""The suite's fixtures; what they hand out lives in ``tests/helpers``.

- data: ``data_mirror``, ``testdata``, ``dlib_backend``;
- databases: ``database_url`` (a fresh, empty SQLite file or PostgreSQL schema) and
  ``migrated_url`` (the same, with the schema already made: a copy of a SQLite file
  migrated once a session, or the session's PostgreSQL schema emptied);
- the service in process: ``settings``, ``app``, ``svc``, ``client`` (HTTPS, cookies),
  ``actions`` (PMS, kiosk) and ``staff`` (panel accounts);
- the service as a process: ``deployment`` (one for the session), ``checkin``,
  ``report``, ``portrait_from_video``, and ``browser`` (one headless Chromium).
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import create_engine, text

from edge.backends import Embedder, create_backend
from lethe.demo import free_port, running_service
from service.app import create_app
from service.settings import Settings
from service.storage import migrate
from service.storage.tables import Base
from service.web.context import EXTENSION, Service
from tests.helpers import ROOT
from tests.helpers.browser import chromium
from tests.helpers.databases import new_schema, postgres_base
from tests.helpers.deployment import (
    REPORT_ENV,
    Checkin,
    Deployment,
    Portrait,
    Report,
    cut_portrait,
    provision,
    run_kiosk,
    service_env,
)
from tests.helpers.service import Actions, Staff


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


@pytest.fixture(scope="session")
def dlib_backend(data_mirror: Path) -> Embedder:
    return create_backend("dlib")


# ---- databases ----------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lethe.sqlite3'}"
        return
    url, drop = new_schema(postgres_base())
    try:
        yield url
    finally:
        drop()


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the whole schema, made once a session (Alembic's SQLite batch steps take ~1 s)."""
    path = tmp_path_factory.mktemp("migrated") / "lethe.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")  # its engine is disposed: the WAL is checkpointed into the file
    return path


@pytest.fixture(scope="session")
def _migrated_postgres() -> Iterator[str]:
    """A PostgreSQL schema with the whole schema, made once a session and emptied before each test."""
    url, drop = new_schema(postgres_base())
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with the current schema and no rows: a copy of the session's SQLite file, or its PostgreSQL
    schema with every table emptied."""
    if request.param == "sqlite":
        path = tmp_path / "lethe.sqlite3"
        shutil.copy(request.getfixturevalue("_migrated_sqlite"), path)  # with its 0600 mode
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("_migrated_postgres")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))  # a connection a test left open fails, not hangs
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))  # its append-only guard refuses TRUNCATE
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
    finally:
        engine.dispose()
    return url


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask of 0 for the test, so a file created without an explicit mode comes out world-writable."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


# ---- the service in process ---------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, migrated_url: str) -> Settings:
    return Settings(instance_path=tmp_path / "instance", database_url=migrated_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions[EXTENSION].db.dispose()


@pytest.fixture
def svc(app: Flask) -> Service:
    found: Service = app.extensions[EXTENSION]
    return found


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A client that talks HTTPS (so the panel's Secure session cookie comes back, as in a browser)."""
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    client.environ_base["HTTP_HOST"] = "localhost"
    return client


@pytest.fixture
def actions(client: FlaskClient, svc: Service) -> Actions:
    return Actions(client, svc)


@pytest.fixture
def staff(client: FlaskClient, svc: Service) -> Staff:
    return Staff(client, svc)


# ---- the service as a process -------------------------------------------------------------------


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory, data_mirror: Path) -> Iterator[Deployment]:
    """One service for the session (gunicorn, SQLite, a registered kiosk, a PMS key); each test that uses it
    makes reservations of its own."""
    instance = tmp_path_factory.mktemp("instance")
    env = service_env(instance, data_mirror)
    with running_service(env, free_port()) as url:
        yield provision(url, env, instance)


@pytest.fixture(scope="session")
def report() -> Report:
    path = os.environ.get(REPORT_ENV)
    return Report(Path(path) if path else None)


@pytest.fixture
def checkin(request: pytest.FixtureRequest, report: Report, testdata: Path) -> Checkin:
    """Run the kiosk on a source with an ID image and record the outcome in the suite's report."""

    return functools.partial(run_kiosk, report, request.node.nodeid, testdata)


@pytest.fixture(scope="session")
def portrait_from_video(tmp_path_factory: pytest.TempPathFactory, dlib_backend: Embedder) -> Callable[..., Portrait]:
    """Cut an ID photo from a recorded video (``tests.helpers.deployment.cut_portrait``) into a temporary folder."""
    folder = tmp_path_factory.mktemp("id-photos")
    return lambda video, **options: cut_portrait(dlib_backend, folder, video, **options)


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the session (the guest screen's tests and the panel's)."""
    with chromium() as driver:
        yield driver
