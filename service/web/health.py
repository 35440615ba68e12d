"""Liveness (``/healthz``) and readiness (``/readyz``: the database answers)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text

from service.checkin.replay import RedisReplayCache
from service.errors import ServiceNotReady
from service.web.context import service

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response:
    """Ready: the database answers, the keyring is loaded, and Redis answers when configured."""
    svc = service()
    with svc.db.transaction() as session:
        session.execute(text("SELECT 1"))
    ring = svc.keyring
    if not (ring.hpke and ring.keks and ring.receipt_keys):
        raise ServiceNotReady("the keyring is incomplete")
    if isinstance(svc.replay, RedisReplayCache):
        try:
            svc.replay.ping()
        except RedisError:
            raise ServiceNotReady("Redis does not answer") from None
    return jsonify(status="ready")
