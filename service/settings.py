"""The verification service's settings (``LETHE_*`` environment variables).

Zero configuration works: everything lives in the instance folder (``./instance``
unless ``LETHE_INSTANCE_PATH`` says otherwise): the SQLite database and the key
folder, created on first start.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lethe.config import describe, load_settings

PREFIX = "LETHE_"


class Settings(BaseModel):
    """Every setting of the service, with its bounds. Frozen once loaded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_path: Path = Field(default=Path("instance"), description="folder for the SQLite file and keys")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite in the instance folder")
    key_dir: Path | None = Field(default=None, description="key folder; default <instance>/keys")
    session_ttl_s: int = Field(default=300, ge=30, le=3600, description="how long a check-in session stays open")
    clock_skew_s: int = Field(default=120, ge=5, le=900, description="accepted kiosk clock difference")
    enrolment_code_ttl_s: int = Field(default=900, ge=60, le=86400, description="lifetime of a kiosk enrolment code")
    max_body_bytes: int = Field(default=65536, ge=4096, le=1 << 20, description="largest accepted request body")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

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
        """Read the settings from ``LETHE_*`` variables; raise ``ConfigError`` on any problem."""
        return load_settings(
            cls, prefix=PREFIX, environ=environ, foreign_prefixes=("LETHE_KIOSK_",), overrides=overrides
        )

    def describe(self) -> str:
        return describe(self, prefix=PREFIX, secret_fields=("database_url",))
