"""Liveness (``/healthz``) and readiness (``/readyz``: the database answers)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from service.context import service

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response:
    with service().db.transaction() as session:
        session.execute(text("SELECT 1"))
    return jsonify(status="ready")
