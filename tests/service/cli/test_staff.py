"""``lethe staff create`` bootstraps accounts; the TOTP secret is printed once."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner

from lethe.cli import main
from service.keyring import load_or_create, staff_secrets
from service.storage.db import Database
from service.storage.tables import StaffAccount


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in [n for n in os.environ if n.startswith("LETHE_") and n != "LETHE_DATA_MIRROR"]:
        monkeypatch.delenv(name)
    env = {"LETHE_INSTANCE_PATH": str(tmp_path / "instance")}
    assert CliRunner().invoke(main, ["init"], env=env).exit_code == 0  # only init and serve create an instance
    return env


def test_staff_create_admin_prints_totp_once(env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(
        main,
        ["staff", "create", "--username", "ada", "--role", "admin", "--password-stdin"],
        input="a long password\n",
        env=env,
    )
    assert done.exit_code == 0, done.output
    secret = re.search(r"TOTP secret \(shown once\): ([A-Z2-7]+)", done.output).group(1)
    assert f"secret={secret}" in done.output
    database = Database(f"sqlite:///{tmp_path / 'instance' / 'lethe.sqlite3'}")
    with database.transaction() as session:
        account = session.query(StaffAccount).filter_by(username="ada").one()
        assert account.role == "admin"
        # Stored sealed under the instance's staff-secret key, never in clear.
        assert secret not in account.totp_secret
        ring = load_or_create(tmp_path / "instance" / "keys")
        assert staff_secrets.open_secret(ring, account.id, account.totp_secret) == secret
        assert account.password_hash.startswith("$argon2id$")
    database.dispose()
    assert pyotp.TOTP(secret).now()
    again = runner.invoke(
        main, ["staff", "create", "--username", "ada", "--password-stdin"], input="a long password\n", env=env
    )
    assert again.exit_code == 1
    assert "exists" in again.output


def test_staff_create_refuses_a_short_password(env: dict[str, str]) -> None:
    done = CliRunner().invoke(
        main, ["staff", "create", "--username", "bo", "--password-stdin"], input="short\n", env=env
    )
    assert done.exit_code == 1
    assert "at least 12 characters" in done.output


def test_staff_reset_password_and_sign_out(env: dict[str, str], tmp_path: Path) -> None:
    from argon2 import PasswordHasher

    runner = CliRunner()
    create = ["staff", "create", "--username", "ada", "--role", "manager", "--password-stdin"]
    assert runner.invoke(main, create, input="a long password\n", env=env).exit_code == 0
    database = Database(f"sqlite:///{tmp_path / 'instance' / 'lethe.sqlite3'}")
    try:
        with database.transaction() as session:
            before = session.query(StaffAccount).filter_by(username="ada").one()
            version, sealed = before.session_version, before.totp_secret
        done = runner.invoke(main, ["staff", "reset-password", "ada"], env=env)
        assert done.exit_code == 0, done.output
        temporary = re.search(r"temporary password for ada \(shown once\): (\S+)", done.output).group(1)
        secret = re.search(r"TOTP secret \(shown once\): ([A-Z2-7]+)", done.output).group(1)
        with database.transaction() as session:
            account = session.query(StaffAccount).filter_by(username="ada").one()
            assert PasswordHasher().verify(account.password_hash, temporary)
            assert account.must_change_password is True
            assert account.session_version == version + 1
            assert account.totp_secret != sealed
            ring = load_or_create(tmp_path / "instance" / "keys")
            assert staff_secrets.open_secret(ring, account.id, account.totp_secret) == secret
        done = runner.invoke(main, ["staff", "sign-out", "Ada"], env=env)
        assert (done.exit_code, done.output.strip()) == (0, "every session of ada has ended")
        with database.transaction() as session:
            assert session.query(StaffAccount).filter_by(username="ada").one().session_version == version + 2
        missing = runner.invoke(main, ["staff", "reset-password", "nobody"], env=env)
        assert missing.exit_code == 1
        assert "no staff account named nobody" in missing.output
    finally:
        database.dispose()
