"""Health and readiness, and a database that went away."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_a_metric_that_cannot_be_written_never_fails_the_request(
    actions: Actions, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """As when the metrics folder of a multiprocess deployment is gone: writing a sample raises."""
    from service import metrics

    def unwritable(**_labels: str) -> None:
        raise FileNotFoundError("[Errno 2] No such file or directory: 'histogram_4242.db'")

    monkeypatch.setattr(metrics.REQUESTS, "labels", unwritable)
    assert actions.client.get("/healthz").json == {"status": "ok"}
    assert "metric request_served not recorded: FileNotFoundError" in caplog.text
