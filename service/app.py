"""The application factory."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from models.registry import load_manifest
from service import keyring, panel
from service.checkin import replay
from service.settings import Settings
from service.storage.db import Database
from service.storage.private import private_folder
from service.web import (
    bodies,
    headers,
    health,
    kiosk_api,
    limits,
    openapi,
    pms_api,
    problems,
    receipt,
    schedule,
    telemetry,
)
from service.web.context import EXTENSION, Service, watch_keys


def create_app(settings: Settings | None = None) -> Flask:
    """Build the verification service.

    ``settings`` defaults to :meth:`Settings.from_env`. The instance folder (0700,
    tightened with a warning if looser) and the keys are created on first use; the database schema is not (run
    ``lethe db upgrade``, which ``lethe serve`` does before it starts).
    """
    settings = settings or Settings.from_env()
    instance = settings.instance_path.resolve()
    private_folder(instance)
    app = Flask(__name__, instance_path=str(instance))
    app.request_class = bodies.Request
    app.json = bodies.JSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    telemetry.init_app(app, settings)
    app.extensions[EXTENSION] = Service(
        settings=settings,
        db=Database(settings.resolved_database_url),
        keyring=keyring.load_or_create(settings.resolved_key_dir),
        manifest=load_manifest(),
        replay=replay.make_cache(settings),
    )
    problems.init_app(app)
    headers.init_app(app)
    watch_keys(app)
    limits.init_app(app, settings)
    for blueprint in (health.bp, kiosk_api.bp, pms_api.bp, openapi.bp, receipt.bp):
        app.register_blueprint(blueprint)
    panel.init_app(app)
    schedule.start(app, settings.purge_interval_s)
    if settings.proxy_hops:  # the client's address and scheme as the proxy saw them (rate limits, HTTPS checks)
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    return app
