"""``crashable_deployment``: a service of its own that a test may kill (SIGKILL) and start again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lethe.demo import free_port
from tests.helpers.databases import new_schema, postgres_base
from tests.helpers.deployment import CrashableDeployment, ServiceProcess, provision, service_env


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def _crashable(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, data_mirror: Path
) -> Iterator[CrashableDeployment]:
    instance = tmp_path_factory.mktemp("crashable")
    url, drop = (
        (f"sqlite:///{instance / 'lethe.sqlite3'}", None) if request.param == "sqlite" else new_schema(postgres_base())
    )
    env = service_env(instance, data_mirror) | {"LETHE_DATABASE_URL": url}
    service = ServiceProcess(env, free_port())
    try:
        service.start()
        ready = provision(service.url, env, instance)
        yield CrashableDeployment(ready.url, ready.env, ready.instance, ready.api_key, service)
    finally:
        service.stop()
        if drop is not None:
            drop()


@pytest.fixture
def crashable_deployment(_crashable: CrashableDeployment) -> CrashableDeployment:
    """A service of its own in this module, on SQLite and on PostgreSQL, running when the test starts (a test
    before may have crashed it); each test makes reservations of its own."""
    if not _crashable.service.running:
        _crashable.service.start()
    return _crashable
