"""The operator commands, run as the CLI runs them, against a real database."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from lethe.cli import main
from service import keyring
from service.checkin.kiosks import create_enrolment_code, register_kiosk
from service.stays.reservations import create_reservation
from service.storage import migrate
from service.storage.db import Database


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("LETHE_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("LETHE_DATABASE_URL", database_url)
    migrate.upgrade(database_url)
    db = Database(database_url)
    yield db
    db.dispose()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_device_lifecycle_commands(env: Database) -> None:
    now = dt.datetime.now(dt.UTC)
    with env.transaction() as session:
        code = create_enrolment_code(session, kiosk_name="Lobby", ttl_s=600, actor="t", now=now).code
        kiosk_id = register_kiosk(session, code=code, public_key=b"\x01" * 32, now=now).id
    status, out = run("device", "suspend", kiosk_id, "--reason", "maintenance", "--actor", "staff:bo")
    assert status == 0, out
    assert "suspended" in out
    status, out = run("device", "list", "--json")
    assert json.loads(out)[0]["status"] == "suspended"
    assert run("device", "resume", kiosk_id, "--reason", "fixed")[0] == 0
    assert run("device", "revoke", kiosk_id, "--reason", "retired")[0] == 0
    status, out = run("device", "resume", kiosk_id, "--reason", "again")
    assert status == 1
    assert "invalid-transition" in out
    status, out = run("device", "suspend", kiosk_id)
    assert status == 2  # --reason is required


def test_stay_commands_and_audit_verify(env: Database, tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).date()
    with env.transaction() as session:
        ring = keyring.load_or_create(tmp_path / "instance" / "keys")
        reference = create_reservation(
            session, ring, guest_name="Cy Guest", arrival=today, departure=today, actor="t"
        ).stay.reference
    status, out = run("stay", "show", reference)
    assert status == 0, out
    assert json.loads(out)["data_key_held"] is True
    status, out = run("stay", "override", reference, "--reason", "passport checked")
    assert json.loads(out)["status"] == "checked_in"
    export = tmp_path / "export.json"
    assert run("stay", "export", reference, "--reason", "DSAR 7", "--output", str(export))[0] == 0
    assert json.loads(export.read_text())["stay"]["guest_name"] == "Cy Guest"
    receipt = tmp_path / "receipt.json"
    assert run("stay", "checkout", reference, "--receipt", str(receipt))[0] == 0
    public = tmp_path / "receipt.pem"
    public.write_bytes(ring.receipt_public_keys()[0].to_pem())
    status, out = run("receipt", "verify", str(receipt), "--public-key", str(public))
    assert status == 0, out
    assert "VALID" in out
    status, out = run("stay", "erase", reference, "--reason", "DSAR 8", "--yes")
    assert json.loads(out)["deleted"]["stay"] == 1
    assert run("purge")[0] == 0
    status, out = run("audit", "verify")
    assert status == 0, out
    assert "chain intact" in out
    with env.transaction() as session:
        if env.is_sqlite:
            session.execute(text("DROP TRIGGER audit_log_no_update"))
        else:
            session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        session.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 3"))
    status, out = run("audit", "verify")
    assert status == 1
    assert "BROKEN at entry 3" in out


def test_reservations_import_writes_codes_privately(env: Database, tmp_path: Path) -> None:
    import stat

    source = tmp_path / "arrivals.csv"
    source.write_text("guest_name,arrival,departure\nAda,2026-11-23,2026-11-24\nBo,2026-11-23,2026-11-25\n")
    codes = tmp_path / "codes.csv"
    status, out = run("reservations", "import", str(source), "--codes", str(codes))
    assert status == 0, out
    assert "imported 2" in out
    assert stat.S_IMODE(codes.stat().st_mode) == 0o600
    lines = codes.read_text().splitlines()
    assert lines[0] == "reference,guest_name,qr_payload"
    assert all(",LETHE2." in line for line in lines[1:])
    source.write_text("guest_name,arrival,departure\nCy,2026-11-25,2026-11-23\n")
    status, out = run("reservations", "import", str(source), "--codes", str(tmp_path / "more.csv"))
    assert status == 1
    assert "departure is before arrival" in out
    assert not (tmp_path / "more.csv").exists()
