"""The front-desk staff panel: a server-rendered Flask blueprint under ``/panel``.

``init_app(app)`` sets up what the panel needs from the application (secret key,
session cookie policy, CSRF) and registers the blueprint. See ``docs/panel.md``.
"""

from __future__ import annotations

from flask import Flask

from service.panel import admin, auth, desk, manage, security  # noqa: F401  (the pages register on import)
from service.panel.blueprint import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    security.init_app(app)
    app.register_blueprint(bp)
