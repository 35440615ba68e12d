"""Rate limits per kiosk, per stay and per client address (the ``limits`` package; Redis storage when configured).

With ``LETHE_REDIS_URL`` the counters live in Redis through the ``limits``
package's Redis storage and fixed-window strategy, under the configured key
prefix, shared by every worker and host. Nothing runs per request beyond the
views' own :func:`hit` calls (Flask-Limiter's before/after-request hooks cost
about 0.4 ms a request and enforced nothing here). Limits
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

from flask import Flask, current_app
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

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
    def __init__(self, settings: Settings) -> None:
        self.local = None if settings.redis_url else _LocalWindows()
        self.shared = (
            FixedWindowRateLimiter(storage_from_string(settings.redis_url, key_prefix=f"{settings.redis_prefix}limits"))
            if settings.redis_url
            else None
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
            assert self.shared is not None
            strategy = self.shared
            if strategy.hit(item, scope, identity):
                return
            reset, _remaining = strategy.get_window_stats(item, scope, identity)
            retry_after = max(1, math.ceil(reset - time.time()))
        raise RateLimited(f"too many requests for this {scope}; retry in {retry_after} s", retry_after=retry_after)


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[EXTENSION] = Limits(settings)


def hit(scope: str, identity: str) -> None:
    limits: Limits = current_app.extensions[EXTENSION]
    limits.hit(scope, identity)
