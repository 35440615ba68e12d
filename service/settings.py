"""The verification service's settings (``LETHE_*`` environment variables).

Zero configuration works: everything lives in the instance folder (``./instance``
unless ``LETHE_INSTANCE_PATH`` says otherwise): the SQLite database and the key
folder, created on first start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from config import describe, environment_file, load_settings, read_settings_file

PREFIX = "LETHE_"
CONFIG_FILE = Path("/etc/lethe/lethe.toml")

# What deploy/lethe.env sets for a server behind deploy/nginx/lethe.conf (the rest stays at its default).
SERVER_VALUES = {
    "instance_path": "/var/lib/lethe",
    "public_url": "https://lethe.example.com",
    "proxy_hops": "1",
}


REDIS_TIMEOUT_S = 2.0  # connecting to Redis and each command; past it the request is a retryable 503


def check_redis_url(url: str) -> None:
    """Raise ``ValueError`` (naming the problem, never the URL: it may hold a password) unless ``url`` is usable.

    ``redis://`` or ``rediss://``, a host, an optional port and database number,
    and only query options that redis-py understands.
    """
    from urllib.parse import urlsplit

    from redis.connection import parse_url

    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError("a Redis URL starts with redis:// or rediss://, e.g. redis://localhost:6379/0")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        parse_url(url)  # type: ignore[no-untyped-call]
    except ValueError as exc:
        raise ValueError(f"not a Redis URL like redis://localhost:6379/0: {exc}") from None
    if not parts.hostname:
        raise ValueError("the Redis URL names no host, e.g. redis://localhost:6379/0")
    if parts.path not in ("", "/") and not (parts.path[1:].isascii() and parts.path[1:].isdigit()):
        raise ValueError("the Redis URL's path must be a database number, e.g. redis://localhost:6379/0")


class Settings(BaseModel):
    """Every setting of the service, with its bounds. Frozen once loaded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config_file: Path = Field(
        default=CONFIG_FILE,
        description='system-wide settings file (TOML, setting names as keys: instance_path = "/var/lib/lethe"), '
        "read when LETHE_INSTANCE_PATH is not set; a LETHE_* variable wins over it",
    )
    instance_path: Path = Field(default=Path("instance"), description="folder for the SQLite file and keys")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite in the instance folder")
    key_dir: Path | None = Field(default=None, description="key folder; default <instance>/keys")
    session_ttl_s: int = Field(default=300, ge=30, le=3600, description="how long a check-in session stays open")
    clock_skew_s: int = Field(default=120, ge=5, le=900, description="accepted kiosk clock difference")
    enrolment_code_ttl_s: int = Field(default=900, ge=60, le=86400, description="lifetime of a kiosk enrolment code")
    max_body_bytes: int = Field(default=65536, ge=4096, le=1 << 20, description="largest accepted request body")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    public_url: str = Field(
        default="",
        pattern=r"^(https?://[^\s#?]+)?$",
        description="the service's address as guests' phones reach it (receipt links); empty: as the kiosk reached it",
    )
    redis_url: str = Field(default="", description="Redis URL for the replay cache and rate limits; empty: database")
    redis_prefix: str = Field(default="lethe:", max_length=64, description="prefix of every Redis key")
    rate_limit_kiosk: str = Field(default="300/minute", description="signed requests and verifications per kiosk")
    rate_limit_stay: str = Field(default="20/minute", description="check-in sessions opened per stay")
    rate_limit_register: str = Field(default="10/minute", description="kiosk registrations per client address")
    metrics_token: str = Field(
        default="",
        max_length=256,
        description="bearer token that GET /metrics requires; empty: /metrics answers loopback clients only",
    )
    purge_interval_s: int = Field(default=0, ge=0, le=86400, description="run the retention purge in-process; 0: off")
    webhook_interval_s: float = Field(
        default=5.0, ge=0, le=3600, description="how often each worker sends due webhook events; 0: not in-process"
    )
    webhook_retry_base_s: float = Field(
        default=10.0, ge=0.01, le=3600, description="first retry delay of a failed webhook delivery (doubles, max 1 h)"
    )
    webhook_max_attempts: int = Field(default=12, ge=1, le=100, description="tries before a webhook event is failed")
    log_json: bool = Field(default=True, description="JSON log lines (structlog); false: plain text")
    panel_secure_cookies: bool = Field(
        default=True, description="mark panel cookies Secure (turn off only for plain-HTTP loopback tests)"
    )
    proxy_hops: int = Field(
        default=0,
        ge=0,
        le=5,
        description="reverse proxies in front whose X-Forwarded-For/-Proto/-Host are trusted (1 behind "
        "deploy/nginx/lethe.conf); 0: none, the peer is the client",
    )
    panel_idle_timeout_s: int = Field(default=900, ge=60, le=28800, description="panel sign-out after this idle time")

    @field_validator("rate_limit_kiosk", "rate_limit_stay", "rate_limit_register")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate limit like '300/minute'") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value:
            check_redis_url(value)
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.instance_path / 'lethe.sqlite3').resolve()}"

    @property
    def resolved_key_dir(self) -> Path:
        return self.key_dir if self.key_dir is not None else self.instance_path / "keys"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the settings from ``LETHE_*`` variables over the system-wide settings file (read only when
        ``LETHE_INSTANCE_PATH`` is not set); raise ``ConfigError`` on any problem."""
        env = os.environ if environ is None else environ
        base: dict[str, Any] = {}
        if PREFIX + "INSTANCE_PATH" not in env and "instance_path" not in overrides:
            path = Path(overrides.get("config_file") or env.get(PREFIX + "CONFIG_FILE") or CONFIG_FILE)
            if path.is_file():
                base = read_settings_file(path, cls) | {"config_file": path}
        return load_settings(
            cls, prefix=PREFIX, environ=env, foreign_prefixes=("LETHE_KIOSK_",), overrides=overrides, base=base
        )

    @classmethod
    def environment_file(cls) -> str:
        """deploy/lethe.env: every ``LETHE_*`` setting with its default, the server's choices set."""
        title = (
            "/etc/lethe/lethe.env: the verification service's settings (EnvironmentFile= of lethe.service).\n"
            "Every LETHE_* setting, with its default; a commented line keeps the default. Secrets (database and\n"
            "Redis URLs with passwords) go into systemd credentials instead (LoadCredential=, see docs/deploy.md).\n"
            "Generated by: lethe serve --print-env"
        )
        return environment_file(cls, prefix=PREFIX, title=title, values=SERVER_VALUES)

    def describe(self) -> str:
        return describe(self, prefix=PREFIX, secret_fields=("database_url", "redis_url", "metrics_token"))
