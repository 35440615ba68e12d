"""The replay cache of signed kiosk requests: in the database on one host, in Redis when configured.

A request's nonce is remembered for twice the clock-skew window; a request
older than the window is refused as stale before it gets here, so a nonce seen
again within its lifetime is a replay (``replayed-request``). In the database
the nonce is a row of ``request_nonces``, committed with the authentication in a
transaction of its own before the request's work begins; in Redis a key with the
configured prefix that expires by itself (``SET NX PX``). Either way a nonce
that authenticated is remembered whatever the request is answered afterwards.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.errors import ReplayedRequest
from service.settings import REDIS_TIMEOUT_S, Settings
from service.storage.tables import RequestNonce


class ReplayCache(Protocol):
    backend: str

    def remember(self, session: Session, key: str, *, now: dt.datetime, ttl_s: int) -> None:
        """Record ``key``; raise ``replayed-request`` if it is already there."""


class DatabaseReplayCache:
    """Nonces in the ``request_nonces`` table, in the request's own transaction."""

    backend = "database"

    def remember(self, session: Session, key: str, *, now: dt.datetime, ttl_s: int) -> None:
        session.execute(delete(RequestNonce).where(RequestNonce.expires_at < now))  # expired ones go as we pass
        try:
            with session.begin_nested():
                session.add(RequestNonce(key=key, expires_at=now + dt.timedelta(seconds=ttl_s)))
        except IntegrityError:
            raise ReplayedRequest() from None


class RedisReplayCache:
    """Nonces as Redis keys with their own expiry, shared by every host."""

    backend = "redis"

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S)
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
