"""Health and readiness, and a database that went away."""

from __future__ import annotations

from pathlib import Path

from service.app import create_app
from service.settings import Settings
from tests.helpers.service import Actions, assert_problem


def test_healthz_and_readyz(actions: Actions) -> None:
    assert actions.client.get("/healthz").json == {"status": "ok"}
    assert actions.client.get("/readyz").json == {"status": "ready"}


def test_database_gone_is_a_retryable_503(tmp_path: Path) -> None:
    settings = Settings(
        instance_path=tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    )
    client = create_app(settings).test_client()
    answer = client.get("/readyz")
    assert_problem(answer, 503, "database-unavailable")
    assert answer.headers["Retry-After"]
    assert answer.json["retryable"] is True
    verify = client.post("/api/v1/verify", data=b"\x00" * 400, content_type="application/vnd.lethe.envelope")
    assert verify.status_code in (400, 503)
    assert verify.mimetype == "application/problem+json"
