"""Run the service under gunicorn (threaded workers), configured from Python rather than a config file."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from service.settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
THREADS = 4  # requests one worker serves at once


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
        from service.app import create_app  # in the worker, after the metrics folder is set
        from service.web import schedule

        app = create_app(self._settings)
        schedule.start_webhooks(app, self._settings.webhook_interval_s)  # each worker sends the outbox's events
        return app


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def metrics_folder() -> str:
    """A fresh folder for the workers' metric files (prometheus-client multiprocess mode)."""
    folder = tempfile.mkdtemp(prefix="lethe-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    try:  # if prometheus_client was imported before, make metrics created from now on multiprocess ones
        from prometheus_client import values

        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    except ImportError:  # pragma: no cover
        pass
    return folder


def serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    if os.environ.get(MULTIPROC_ENV):  # the operator's own folder: theirs to clean
        _run(settings, host=host, port=port, workers=workers)
        return
    folder, master = metrics_folder(), os.getpid()
    try:
        _run(settings, host=host, port=port, workers=workers)
    finally:
        # A worker is forked from this very stack: one that leaves by SystemExit (a timeout's SIGABRT, a
        # reload) unwinds through here too. The folder is the master's: only the master removes it.
        if os.getpid() == master:
            shutil.rmtree(folder, ignore_errors=True)


def _control_socket(settings: Settings) -> dict[str, Any]:
    """gunicorn's control socket (``gunicornc``) in this instance's own folder (0700), not one per user.

    A Unix socket path holds at most 107 bytes; for an instance folder too deep for
    that, the socket is off (nothing in Lethe uses it).
    """
    path = settings.instance_path.resolve() / "gunicorn.ctl"
    if len(os.fsencode(path)) > 100:
        return {"control_socket_disable": True}
    return {"control_socket": str(path), "control_socket_mode": 0o600}


def _run(settings: Settings, *, host: str, port: int, workers: int) -> None:
    GunicornServer(
        settings,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            # Threaded workers keep a connection that has sent nothing yet (a browser's preconnect, a
            # keep-alive) in a poller instead of blocking the worker on it until the timeout.
            "worker_class": "gthread",
            "threads": THREADS,
            "timeout": 30,
            "graceful_timeout": 10,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": settings.log_level.lower(),
            "child_exit": _child_exit,
            **_control_socket(settings),
        },
    ).run()
