"""A gunicorn worker that leaves (a timeout, a reload) takes nothing of the service with it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import requests

from lethe.demo import free_port
from tests.helpers.deployment import ServiceProcess, service_env


def test_workers_that_exit_leave_every_request_answered_and_the_metrics_whole(
    tmp_path: Path, data_mirror: Path
) -> None:
    """Regression: a worker leaving by SystemExit unwound ``lethe serve``'s own stack (forked from the master)
    and removed the metrics folder; from then on every request of every worker answered 500."""
    service = ServiceProcess(service_env(tmp_path / "instance", data_mirror), free_port())
    service.start()
    try:
        first = service.workers()
        assert len(first) == 2
        for pid in first:  # what the master sends a worker that timed out: the worker leaves by SystemExit
            os.kill(pid, signal.SIGABRT)
        deadline = time.monotonic() + 60
        while not (len(service.workers()) == 2 and not service.workers() & first):
            assert time.monotonic() < deadline, "the master did not replace its workers"
            time.sleep(0.1)
        answers = [requests.get(f"{service.url}/healthz", timeout=10).status_code for _ in range(10)]
        assert answers == [200] * 10
        exposition = requests.get(f"{service.url}/metrics", timeout=10)
        assert exposition.status_code == 200
        assert 'endpoint="health.healthz"' in exposition.text
    finally:
        service.stop()
