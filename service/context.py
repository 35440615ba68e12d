"""What a running service instance holds: settings, database, keyring, model manifest, replay cache."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, request
from pydantic import BaseModel, ValidationError

from models.registry import Manifest
from service.db import Database
from service.errors import BadRequest, UnsupportedMediaType
from service.keyring import Keyring
from service.replay import DatabaseReplayCache, RedisReplayCache
from service.settings import Settings

EXTENSION = "lethe"
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
