"""Rate limits per kiosk, per stay and per client address (Flask-Limiter; Redis storage when configured).

With ``LETHE_REDIS_URL`` the counters live in Redis through Flask-Limiter's
storage and strategy (fixed window), shared by every worker and host. Limits
are counted only for requests that authenticated (a kiosk's budget cannot be
spent by someone who merely knows its id): the views call :func:`hit` after
checking the signature. Without Redis the counters live in each worker's
memory, so with N gunicorn workers a limit is at most N times looser; set
``LETHE_REDIS_URL`` to share them.
"""

from __future__ import annotations

import math
import threading
import time

from flask import Flask, current_app, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse

from service.errors import RateLimited
from service.settings import Settings

EXTENSION = "lethe.limits"


class _LocalWindows:
    """Fixed-window counters in this process (no Redis): a dict, pruned when a window passes.

    Used instead of the ``memory://`` storage of ``limits``, which starts a timer
    thread every few milliseconds under load (measured: 2.5 ms a request).
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()
        self._window = -1

    def hit(self, item: RateLimitItem, scope: str, identity: str) -> float | None:
        """Count a hit; return ``None`` if allowed, else the seconds until the window resets."""
        period = item.get_expiry()
        now = time.time()
        window = int(now // period)
        key = (scope, identity, window)
        with self._lock:
            if window != self._window:
                self._counts = {k: v for k, v in self._counts.items() if k[2] >= window}
                self._window = window
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
        return None if count <= item.amount else (window + 1) * period - now


class Limits:
    def __init__(self, app: Flask, settings: Settings) -> None:
        self.local = None if settings.redis_url else _LocalWindows()
        self.limiter = Limiter(
            lambda: request.remote_addr or "unknown",
            app=app,
            storage_uri=settings.redis_url or "memory://",
            key_prefix=f"{settings.redis_prefix}limits",
            strategy="fixed-window",
            default_limits=[],
            headers_enabled=False,
        )
        self.items: dict[str, RateLimitItem] = {
            "kiosk": parse(settings.rate_limit_kiosk),
            "stay": parse(settings.rate_limit_stay),
            "register": parse(settings.rate_limit_register),
        }

    def hit(self, scope: str, identity: str) -> None:
        """Count one request for ``scope``/``identity``; raise ``rate-limited`` when over the limit."""
        item = self.items[scope]
        if self.local is not None:
            wait = self.local.hit(item, scope, identity)
            if wait is None:
                return
            retry_after = max(1, math.ceil(wait))
        else:
            strategy = self.limiter.limiter
            if strategy.hit(item, scope, identity):
                return
            reset, _remaining = strategy.get_window_stats(item, scope, identity)
            retry_after = max(1, math.ceil(reset - time.time()))
        raise RateLimited(f"too many requests for this {scope}; retry in {retry_after} s", retry_after=retry_after)


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[EXTENSION] = Limits(app, settings)


def hit(scope: str, identity: str) -> None:
    limits: Limits = current_app.extensions[EXTENSION]
    limits.hit(scope, identity)
