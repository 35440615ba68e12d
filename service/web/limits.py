"""Rate limits per kiosk, per stay and per client address (the ``limits`` package's fixed-window strategy).

With ``LETHE_REDIS_URL`` the counters live in Redis (the ``limits`` Redis
storage), under the configured key prefix, shared by every worker and host.
Without it they live in each worker's memory (the ``limits`` memory storage),
so with N gunicorn workers a limit is at most N times looser; set
``LETHE_REDIS_URL`` to share them. Limits are counted only for requests that
authenticated (a kiosk's budget cannot be spent by someone who merely knows its
id): the views call :func:`hit` after checking the signature.
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from service.errors import RateLimited
from service.settings import REDIS_TIMEOUT_S, Settings

EXTENSION = "lethe.limits"


class Limits:
    """The configured limits and the ``limits`` fixed-window strategy over their storage."""

    def __init__(self, settings: Settings) -> None:
        if settings.redis_url:
            storage = storage_from_string(
                settings.redis_url,
                key_prefix=f"{settings.redis_prefix}limits",
                socket_connect_timeout=REDIS_TIMEOUT_S,
                socket_timeout=REDIS_TIMEOUT_S,
            )
        else:
            storage = storage_from_string("memory://")
        self.strategy = FixedWindowRateLimiter(storage)
        self.items: dict[str, RateLimitItem] = {
            "kiosk": parse(settings.rate_limit_kiosk),
            "stay": parse(settings.rate_limit_stay),
            "register": parse(settings.rate_limit_register),
        }

    def hit(self, scope: str, identity: str) -> None:
        """Count one request for ``scope``/``identity``; raise ``rate-limited`` when over the limit."""
        item = self.items[scope]
        if self.strategy.hit(item, scope, identity):
            return
        reset, _remaining = self.strategy.get_window_stats(item, scope, identity)
        retry_after = max(1, math.ceil(reset - time.time()))
        raise RateLimited(f"too many requests for this {scope}; retry in {retry_after} s", retry_after=retry_after)


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[EXTENSION] = Limits(settings)


def hit(scope: str, identity: str) -> None:
    limits: Limits = current_app.extensions[EXTENSION]
    limits.hit(scope, identity)
