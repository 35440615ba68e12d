"""Run the service under gunicorn (sync workers), configured from Python rather than a config file."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from service.app import create_app
from service.settings import Settings


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """A gunicorn application whose workers each build the app with :func:`create_app`."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self._settings)


def serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    GunicornServer(
        settings,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "sync",
            "timeout": 30,
            "graceful_timeout": 10,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": settings.log_level.lower(),
        },
    ).run()
