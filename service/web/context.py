"""What a running service instance holds (settings, database, keyring, model manifest, replay cache), for views.

The keyring is reloaded when the key folder changes (``lethe keys rotate`` and
``retire`` in another process), checked before each request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app, request
from pydantic import BaseModel, ValidationError

from models.registry import Manifest
from service.checkin.replay import DatabaseReplayCache, RedisReplayCache
from service.errors import BadRequest, UnsupportedMediaType
from service.keyring import Keyring, load_or_create
from service.settings import Settings
from service.storage.db import Database

EXTENSION = "lethe"
STAMP = "lethe.keys.stamp"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Service:
    settings: Settings
    db: Database
    keyring: Keyring
    manifest: Manifest
    replay: DatabaseReplayCache | RedisReplayCache

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


def service() -> Service:
    """The :class:`Service` of the current Flask app."""
    found: Service = current_app.extensions[EXTENSION]
    return found


def json_body(model: type[M]) -> M:
    """Parse the request's JSON body into ``model``; raise ``bad-request`` naming each problem."""
    if not request.is_json:
        raise UnsupportedMediaType("send application/json")
    data: Any = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise BadRequest(problems) from None


def _stamp(key_dir: str) -> tuple[int, list[str]]:
    # os.stat and os.listdir on a str, not Path.glob: this runs on every request, and glob costs ten times more.
    # The listing as well as the folder's mtime: two changes within one clock tick can leave the mtime as it was.
    return os.stat(key_dir).st_mtime_ns, sorted(n for n in os.listdir(key_dir) if n.endswith(".key"))


def watch_keys(app: Flask) -> None:
    """Before each request, rebuild the app's keyring if the key folder changed since it was loaded."""
    svc: Service = app.extensions[EXTENSION]
    key_dir = str(svc.settings.resolved_key_dir)
    app.extensions[STAMP] = _stamp(key_dir)

    def reload_if_changed() -> None:
        if _stamp(key_dir) != app.extensions[STAMP]:
            current: Service = app.extensions[EXTENSION]
            app.extensions[EXTENSION] = dataclasses.replace(current, keyring=load_or_create(Path(key_dir)))
            app.extensions[STAMP] = _stamp(key_dir)  # after loading, which may have added a missing key

    app.before_request(reload_if_changed)
