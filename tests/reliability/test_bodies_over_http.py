"""Bodies as a client sends them to the real service (gunicorn on loopback): chunked over the limit, nested JSON.

One service for the module (``lethe serve``, 2 workers). Counted by docs/reliability.md.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lethe.demo import free_port
from tests.helpers.deployment import Deployment, ServiceProcess, service_env

ROWS_OVER = 3000  # ~110 KiB of CSV: over the 64 KiB default limit
ROWS_UNDER = 400


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, data_mirror: Path) -> Iterator[Deployment]:
    instance = tmp_path_factory.mktemp("instance")
    process = ServiceProcess(service_env(instance, data_mirror), free_port())
    process.start()
    try:
        api_key = Deployment(process.url, process.env, instance, "").lethe("integration", "create", "pms").stdout
        yield Deployment(process.url, process.env, instance, api_key.strip())
    finally:
        process.stop()


def csv_lines(rows: int, prefix: str) -> Iterator[bytes]:
    day = dt.date.today().isoformat()
    yield b"guest_name,arrival,departure,reference\n"
    for i in range(rows):
        yield f"Guest {i},{day},{day},{prefix}{i:05d}\n".encode()


def post_chunked(deployment: Deployment, path: str, chunks: Iterator[bytes], content_type: str) -> tuple[int, dict]:
    """POST with ``Transfer-Encoding: chunked`` (no Content-Length), one chunk per line."""
    port = int(deployment.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": content_type, "Authorization": f"Bearer {deployment.api_key}"}
        connection.request("POST", path, body=chunks, headers=headers, encode_chunked=True)
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read() or b"{}")
    finally:
        connection.close()


def listed(deployment: Deployment, prefix: str) -> int:
    import requests

    today = dt.date.today().isoformat()
    answer = requests.get(
        f"{deployment.url}/pms/v1/reservations",
        params={"date": today},
        headers={"Authorization": f"Bearer {deployment.api_key}"},
        timeout=30,
    )
    assert answer.status_code == 200
    return sum(1 for r in answer.json()["reservations"] if r["reference"].startswith(prefix))


def test_a_chunked_import_over_the_limit_is_a_413_and_creates_nothing(served: Deployment) -> None:
    """Regression: 3,000 rows sent chunked were answered 201 with 1,559 reservations created, the rest dropped."""
    status, problem = post_chunked(served, "/pms/v1/reservations/import", csv_lines(ROWS_OVER, "BIG"), "text/csv")
    assert (status, problem["code"]) == (413, "payload-too-large")
    assert listed(served, "BIG") == 0
    status, created = post_chunked(served, "/pms/v1/reservations/import", csv_lines(ROWS_UNDER, "SMALL"), "text/csv")
    assert status == 201
    assert len(created["created"]) == ROWS_UNDER == listed(served, "SMALL")


@pytest.mark.parametrize("levels", [1000, 30_000])
def test_deep_json_is_a_400_on_unauthenticated_registration(served: Deployment, levels: int) -> None:
    import requests

    body = b'{"code": ' + b"[" * levels + b"]" * levels + b"}"
    answer = requests.post(
        f"{served.url}/api/v1/kiosks", data=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["code"] == "bad-request"
