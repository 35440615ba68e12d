"""Prometheus metrics (``GET /metrics``: ``service/web/telemetry.py``), with no personal data in any name or label.

Labels are endpoint names, HTTP methods and status codes, outcomes and problem
codes, purge kinds: never a booking reference, a stay or kiosk id, a name, a
score or a template. Under gunicorn every worker writes its samples to
``PROMETHEUS_MULTIPROC_DIR`` (set by ``lethe serve``) and ``/metrics`` adds them
up (prometheus-client's multiprocess mode).

Recording never fails the request that records: a metric that cannot be
written (its folder gone, the disk full) is logged and dropped.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable
from typing import ParamSpec

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
P = ParamSpec("P")
log = logging.getLogger(__name__)
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
DELETION_BUCKETS = (0.1, 1, 60, 600, 3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400)

REQUESTS = Histogram(
    "lethe_http_request_duration_seconds",
    "HTTP request latency by endpoint name, method and status",
    ["endpoint", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
VERIFICATIONS = Counter(
    "lethe_verifications_total",
    "Verifications by outcome: accepted, rejected (no-match, booking-secret-mismatch) or a problem code",
    ["outcome"],
)
VERIFY_LATENCY = Histogram("lethe_verification_duration_seconds", "Full verification latency", buckets=LATENCY_BUCKETS)
LIVENESS_REJECTIONS = Counter(
    "lethe_liveness_rejections_total", "Verifications refused for liveness evidence", ["code"]
)
SESSIONS_ENDED = Counter(
    "lethe_sessions_ended_total",
    "Check-in sessions a kiosk ended unused, by its reason (failure-to-acquire, liveness-failed, ...)",
    ["reason"],
)
FAILURE_TO_ACQUIRE = Counter(
    "lethe_failure_to_acquire_total", "Sessions ended by the kiosk because no usable face was captured"
)
CHECKOUT_TO_DELETION = Histogram(
    "lethe_checkout_to_deletion_seconds",
    "Seconds from when a stay's data was due for deletion (checkout) to its deletion",
    ["path"],
    buckets=DELETION_BUCKETS,
)
PURGED = Counter("lethe_purge_deleted_total", "Rows deleted by the retention purge", ["kind"])
PURGE_RUNS = Counter("lethe_purge_runs_total", "Retention purge runs")
LOCKOUTS = Counter("lethe_stay_lockouts_total", "Stays locked after repeated failed verifications")


def registry() -> CollectorRegistry:
    if os.environ.get(MULTIPROC_ENV):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        return collected
    return REGISTRY


def _never_fails(record: Callable[P, None]) -> Callable[P, None]:
    """``record``, with any error logged instead of raised: the request's answer matters more than its metric."""

    @functools.wraps(record)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            record(*args, **kwargs)
        except Exception as exc:  # prometheus-client's file backend raises OSError, ValueError, ...
            log.warning("metric %s not recorded: %s: %s", record.__name__, type(exc).__name__, exc)

    return guarded


@_never_fails
def request_served(endpoint: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(endpoint=endpoint, method=method, status=str(status)).observe(seconds)


@_never_fails
def lockout() -> None:
    LOCKOUTS.inc()


@_never_fails
def verification(outcome: str, seconds: float) -> None:
    VERIFICATIONS.labels(outcome=outcome).inc()
    VERIFY_LATENCY.observe(seconds)
    if "liveness" in outcome:
        LIVENESS_REJECTIONS.labels(code=outcome).inc()


@_never_fails
def session_ended(reason: str) -> None:
    SESSIONS_ENDED.labels(reason=reason).inc()
    if reason == "failure-to-acquire":
        FAILURE_TO_ACQUIRE.inc()


@_never_fails
def deleted_after(path: str, delays_s: Iterable[float]) -> None:
    histogram = CHECKOUT_TO_DELETION.labels(path=path)
    for delay in delays_s:
        histogram.observe(delay)


@_never_fails
def purged(counts: dict[str, int]) -> None:
    PURGE_RUNS.inc()
    for kind, count in counts.items():
        if count:
            PURGED.labels(kind=kind).inc(count)
