"""The service under gunicorn: metrics summed across workers, readiness, the OpenAPI document."""

from __future__ import annotations

import re

import requests

from tests.helpers.deployment import Deployment


def _count(text: str, endpoint: str) -> float:
    pattern = (
        r"lethe_http_request_duration_seconds_count\{endpoint=\"" + re.escape(endpoint) + r"\",method=\"GET\","
        r"status=\"200\"\} ([0-9.e+]+)"
    )
    found = re.search(pattern, text)
    return float(found.group(1)) if found else 0.0


def test_metrics_add_up_every_worker(deployment: Deployment) -> None:
    before = _count(requests.get(f"{deployment.url}/metrics", timeout=10).text, "health.healthz")
    for _ in range(40):
        assert requests.get(f"{deployment.url}/healthz", timeout=10).status_code == 200
    scrapes = [requests.get(f"{deployment.url}/metrics", timeout=10).text for _ in range(4)]
    assert all(_count(text, "health.healthz") == before + 40 for text in scrapes)


def test_ready_and_documented(deployment: Deployment) -> None:
    assert requests.get(f"{deployment.url}/readyz", timeout=10).json() == {"status": "ready"}
    document = requests.get(f"{deployment.url}/openapi.json", timeout=10).json()
    assert "/api/v1/verify" in document["paths"]
