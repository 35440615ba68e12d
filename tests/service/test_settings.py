"""Settings come from LETHE_* variables, are bounded, and unknown keys fail loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError
from service.settings import Settings


def test_defaults_need_no_configuration() -> None:
    settings = Settings.from_env({})
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.resolved_key_dir == Path("instance") / "keys"


def test_values_are_read_and_bounded() -> None:
    assert Settings.from_env({"LETHE_SESSION_TTL_S": "600"}).session_ttl_s == 600
    with pytest.raises(ConfigError, match="LETHE_SESSION_TTL_S"):
        Settings.from_env({"LETHE_SESSION_TTL_S": "5"})


def test_unknown_key_is_rejected_but_kiosk_and_shared_keys_are_not() -> None:
    with pytest.raises(ConfigError, match="LETHE_SESSION_TTL"):
        Settings.from_env({"LETHE_SESSION_TTL": "600"})
    Settings.from_env({"LETHE_KIOSK_BACKEND": "dlib", "LETHE_DATA_MIRROR": "/x", "LETHE_TEST_DATABASE_URL": "x"})


def test_secret_from_file_and_from_systemd_credentials(tmp_path: Path) -> None:
    secret = tmp_path / "db-url"
    secret.write_text("postgresql+psycopg://app@db/lethe\n")
    assert (
        Settings.from_env({"LETHE_DATABASE_URL_FILE": str(secret)}).database_url == "postgresql+psycopg://app@db/lethe"
    )
    (tmp_path / "lethe_database_url").write_text("sqlite:///x.db")
    assert Settings.from_env({"CREDENTIALS_DIRECTORY": str(tmp_path)}).database_url == "sqlite:///x.db"
    assert "app@db" not in Settings.from_env({"LETHE_DATABASE_URL_FILE": str(secret)}).describe()


def test_rate_limits_are_checked() -> None:
    assert Settings.from_env({"LETHE_RATE_LIMIT_STAY": "5/second"}).rate_limit_stay == "5/second"
    with pytest.raises(ConfigError, match="LETHE_RATE_LIMIT_KIOSK"):
        Settings.from_env({"LETHE_RATE_LIMIT_KIOSK": "lots"})


@pytest.mark.parametrize(
    "url",
    [
        "localhost:6379",
        "http://localhost:6379/0",
        "redis://localhost:63x9/0",
        "redis://localhost:99999/0",
        "redis://localhost:6379/zero",
        "redis://localhost:6379/0?socket_timeout=soon",
        "redis:///0",
    ],
)
def test_a_malformed_redis_url_is_refused_in_one_line(url: str) -> None:
    """Regression: the master started, and every worker failed to boot with a traceback in redis-py."""
    with pytest.raises(ConfigError, match="LETHE_REDIS_URL") as refused:
        Settings.from_env({"LETHE_REDIS_URL": url})
    assert "\n" not in str(refused.value)
    assert "secret" not in str(Settings.from_env({"LETHE_REDIS_URL": "redis://:secret@cache:6380/2"}).describe())


def test_a_malformed_redis_url_stops_lethe_serve_before_it_starts(tmp_path: Path) -> None:
    import os
    import subprocess

    from lethe.demo import free_port, lethe_command

    env = {k: v for k, v in os.environ.items() if not k.startswith("LETHE_")}
    env |= {"LETHE_INSTANCE_PATH": str(tmp_path / "instance"), "LETHE_REDIS_URL": "redis://:hunter2@cache:port/0"}
    done = subprocess.run(
        lethe_command("serve", "--port", str(free_port())), env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: configuration: LETHE_REDIS_URL:"), done.stderr
    assert "hunter2" not in done.stderr
    assert "Traceback" not in done.stderr
