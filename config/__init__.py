"""Typed, frozen settings read from ``LETHE_*`` environment variables (for the service and the kiosk alike).

Each process has one settings object (``service.settings.Settings``,
``edge.settings.KioskSettings``): a frozen pydantic model whose fields carry
their bounds. This package sits below both (``lethe`` -> ``service``, ``edge``
-> ``protocol``, ``models``, ``config``), so each reads its settings the same
way. :func:`load_settings` maps field ``foo_bar`` to ``<PREFIX>FOO_BAR``, also
reads ``<PREFIX>FOO_BAR_FILE`` and ``$CREDENTIALS_DIRECTORY/<prefix>foo_bar``
(systemd credentials) for secrets, and rejects variables with the prefix that
no field claims, so a typo fails loudly instead of being ignored.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

# Read by several parts (models, media, tests), so no settings object rejects them.
SHARED_KEYS = frozenset({"LETHE_DATA_MIRROR", "LETHE_MODEL_DIR", "LETHE_MODEL_MIRROR"})
SHARED_PREFIXES = ("LETHE_TEST_",)

S = TypeVar("S", bound=BaseModel)


class ConfigError(ValueError):
    """The environment does not describe a valid configuration."""


def load_settings(
    cls: type[S],
    *,
    prefix: str,
    environ: Mapping[str, str] | None = None,
    foreign_prefixes: Iterable[str] = (),
    overrides: Mapping[str, Any] | None = None,
    base: Mapping[str, Any] | None = None,
) -> S:
    """Build ``cls`` from the environment over ``base`` (a settings file's values); raise :class:`ConfigError`
    with every problem listed."""
    env = os.environ if environ is None else environ
    credentials = env.get("CREDENTIALS_DIRECTORY")
    values: dict[str, Any] = dict(base or {})
    known: set[str] = set()
    for name in cls.model_fields:
        key = prefix + name.upper()
        known |= {key, key + "_FILE"}
        if key in env:
            values[name] = env[key]
        elif key + "_FILE" in env:
            values[name] = _read_secret(Path(env[key + "_FILE"]), key + "_FILE")
        elif credentials and (Path(credentials) / key.lower()).is_file():
            values[name] = _read_secret(Path(credentials) / key.lower(), "credential " + key.lower())
    skip = tuple(foreign_prefixes) + SHARED_PREFIXES
    unknown = sorted(k for k in env if k.startswith(prefix) and k not in known | SHARED_KEYS and not k.startswith(skip))
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    values.update(overrides or {})
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{prefix}{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigError(problems) from None


def read_settings_file(path: Path, cls: type[BaseModel]) -> dict[str, Any]:
    """A TOML settings file's values (keys are the setting names, ``instance_path = "/var/lib/lethe"``)."""
    try:
        with path.open("rb") as file:
            values = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"cannot read the settings file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the settings file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(values) - set(cls.model_fields))
    if unknown:
        raise ConfigError(f"unknown setting(s) in {path}: {', '.join(unknown)}")
    return values


def describe(settings: BaseModel, *, prefix: str, secret_fields: Iterable[str] = ()) -> str:
    """Return the effective settings, one ``KEY=value`` per line, with secrets masked."""
    hidden = set(secret_fields)
    lines = []
    for name, value in settings.model_dump().items():
        shown = "<set>" if name in hidden and value else value
        lines.append(f"{prefix}{name.upper()}={shown}")
    return "\n".join(lines)


def environment_file(cls: type[BaseModel], *, prefix: str, title: str, values: Mapping[str, str] | None = None) -> str:
    """An environment file (systemd ``EnvironmentFile=``) naming every setting of ``cls`` with its default.

    Each setting gets a comment (its description and default) and a line ``PREFIX_NAME=...``: commented out
    at its default, or set to ``values[name]`` when given.
    """
    chosen = dict(values or {})
    unknown = set(chosen) - set(cls.model_fields)
    if unknown:
        raise ValueError(f"no such setting(s): {', '.join(sorted(unknown))}")
    lines = [f"# {line}".rstrip() for line in title.splitlines()]
    for name, field in cls.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "" if default is None else str(default).lower() if isinstance(default, bool) else str(default)
        about = field.description or name.replace("_", " ")
        key = prefix + name.upper()
        lines += ["", f"# {about} (default: {shown or 'empty'})"]
        lines.append(f"{key}={chosen[name]}" if name in chosen else f"#{key}={shown}")
    return "\n".join(lines) + "\n"


def _read_secret(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} ({path}): {exc.strerror}") from None
