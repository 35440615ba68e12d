"""The replay cache of signed kiosk requests: in the database on one host, in Redis when configured.

A request's nonce is remembered for twice the clock-skew window; a request
older than the window is refused as stale before it gets here, so a nonce seen
again within its lifetime is a replay (``replayed-request``). Redis keys carry
the configured prefix and expire by themselves (``SET NX PX``).
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from flask import Flask, current_app
from sqlalchemy.orm import Session

from service.errors import ReplayedRequest
from service.settings import Settings

EXTENSION = "lethe.replay"


class ReplayCache(Protocol):
    backend: str

    def remember(self, session: Session, key: str, *, now: dt.datetime, ttl_s: int) -> None:
        """Record ``key``; raise ``replayed-request`` if it is already there."""


class DatabaseReplayCache:
    """Nonces in the ``request_nonces`` table, in the request's own transaction."""

    backend = "database"

    def remember(self, session: Session, key: str, *, now: dt.datetime, ttl_s: int) -> None:
        from service.kiosks import remember_nonce

        remember_nonce(session, key, now=now, ttl_s=ttl_s)


class RedisReplayCache:
    """Nonces as Redis keys with their own expiry, shared by every host."""

    backend = "redis"

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = f"{prefix}nonce:"

    def remember(self, session: Session, key: str, *, now: dt.datetime, ttl_s: int) -> None:
        if not self.client.set(self.prefix + key, b"1", nx=True, px=ttl_s * 1000):
            raise ReplayedRequest()

    def ping(self) -> bool:
        return bool(self.client.ping())


def make_cache(settings: Settings) -> DatabaseReplayCache | RedisReplayCache:
    if settings.redis_url:
        return RedisReplayCache(settings.redis_url, settings.redis_prefix)
    return DatabaseReplayCache()


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[EXTENSION] = make_cache(settings)


def cache() -> DatabaseReplayCache | RedisReplayCache:
    found: DatabaseReplayCache | RedisReplayCache = current_app.extensions[EXTENSION]
    return found
