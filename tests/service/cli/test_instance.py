"""Which instance: only lethe serve and lethe init create one; every other command refuses a missing one and
names the folder it looked in; the system-wide settings file; what lethe serve says at start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from lethe.cli import main
from service import keyring
from service.cli.common import prepare
from service.cli.serve import startup_lines
from service.panel.accounts import create_account
from service.settings import Settings
from service.storage.db import Database


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No LETHE_* variables but the data mirror, a settings file path that does not exist, cwd in tmp_path."""
    for name in [n for n in os.environ if n.startswith("LETHE_") and n != "LETHE_DATA_MIRROR"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LETHE_CONFIG_FILE", str(tmp_path / "etc" / "lethe.toml"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ["device", "list"],
        ["staff", "create", "--password-stdin"],
        ["stay", "show", "ABCDEFGH"],
        ["keys", "list"],
        ["purge"],
        ["db", "upgrade"],
        ["audit", "verify"],
    ],
)
def test_commands_refuse_a_missing_instance_and_name_the_folder(clean_env: Path, args: list[str]) -> None:
    done = CliRunner().invoke(main, args, input="a long password\n")
    assert done.exit_code == 1, done.output
    assert f"no Lethe instance in {clean_env / 'instance'}" in done.output
    assert "lethe init" in done.output
    assert not (clean_env / "instance").exists()  # nothing created: no fresh keys nobody will use


def test_init_creates_the_instance_and_then_commands_work(clean_env: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(main, ["init"])
    assert created.exit_code == 0, created.output
    assert f"instance ready in {clean_env / 'instance'}" in created.output
    assert (clean_env / "instance" / "keys").is_dir()
    listed = runner.invoke(main, ["device", "list"])
    assert listed.exit_code == 0, listed.output


def test_the_system_wide_settings_file_names_the_instance(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = clean_env / "etc" / "lethe.toml"
    config.parent.mkdir()
    server = clean_env / "srv" / "lethe"
    config.write_text(f'instance_path = "{server}"\nsession_ttl_s = 600\n')
    shown = CliRunner().invoke(main, ["serve", "--check-config"])
    assert shown.exit_code == 0, shown.output
    assert f"LETHE_INSTANCE_PATH={server}" in shown.output
    assert "LETHE_SESSION_TTL_S=600" in shown.output
    assert f"LETHE_CONFIG_FILE={config}" in shown.output
    refused = CliRunner().invoke(main, ["device", "list"])
    assert f"no Lethe instance in {server}" in refused.output

    monkeypatch.setenv("LETHE_SESSION_TTL_S", "900")  # a variable wins over the file
    assert "LETHE_SESSION_TTL_S=900" in CliRunner().invoke(main, ["serve", "--check-config"]).output
    monkeypatch.setenv("LETHE_INSTANCE_PATH", str(clean_env / "elsewhere"))  # then the file is not read at all
    shown = CliRunner().invoke(main, ["serve", "--check-config"]).output
    assert f"LETHE_INSTANCE_PATH={clean_env / 'elsewhere'}" in shown
    assert "LETHE_SESSION_TTL_S=900" in shown


def test_a_settings_file_with_an_unknown_key_is_refused(clean_env: Path) -> None:
    config = clean_env / "etc" / "lethe.toml"
    config.parent.mkdir()
    config.write_text('instance_pth = "/srv/lethe"\n')
    done = CliRunner().invoke(main, ["serve", "--check-config"])
    assert done.exit_code == 2
    assert "unknown setting(s) in" in done.output
    assert "instance_pth" in done.output


def test_serve_says_which_instance_where_and_that_no_admin_exists(tmp_path: Path) -> None:
    settings = Settings(instance_path=tmp_path / "instance")
    prepare(settings)
    lines = "\n".join(startup_lines(settings, "127.0.0.1", 8080))
    assert f"instance folder {(tmp_path / 'instance').resolve()}" in lines
    assert "http://127.0.0.1:8080/panel/" in lines
    assert "http://127.0.0.1:8080/api/v1/" in lines
    assert "no admin yet: run lethe staff create" in lines

    database = Database(settings.resolved_database_url)
    with database.transaction() as session:
        create_account(
            session,
            username="ada",
            display_name="Ada",
            role="admin",
            password="a long password",
            actor="test",
            keyring=keyring.load_or_create(settings.resolved_key_dir),
        )
    database.dispose()
    assert "no admin yet" not in "\n".join(startup_lines(settings, "127.0.0.1", 8080))
