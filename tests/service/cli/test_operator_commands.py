"""The operator commands, run as the CLI runs them, against a real database."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import numpy as np
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
    (tmp_path / "instance").mkdir(mode=0o700)  # as `lethe serve` makes it: a looser one is warned about in the output
    monkeypatch.setenv("LETHE_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("LETHE_DATABASE_URL", database_url)
    migrate.upgrade(database_url)
    assert run("init")[0] == 0  # only lethe init and lethe serve create an instance
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


@pytest.mark.usefixtures("open_umask")
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
    status, out = run("stay", "checkout", reference)
    assert status == 1
    assert f"never checked in: that is a cancellation, not a checkout; run `lethe stay cancel {reference}`" in out
    assert json.loads(run("stay", "show", reference)[1])["status"] == "reserved"
    status, out = run("stay", "override", reference, "--reason", "passport checked")
    assert json.loads(out)["status"] == "checked_in"
    export = tmp_path / "export.json"
    assert run("stay", "export", reference, "--reason", "DSAR 7", "--output", str(export))[0] == 0
    assert json.loads(export.read_text())["stay"]["guest_name"] == "Cy Guest"
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    receipt = tmp_path / "receipt.json"
    assert run("stay", "checkout", reference, "--receipt", str(receipt))[0] == 0
    assert stat.S_IMODE(receipt.stat().st_mode) == 0o600
    public = tmp_path / "receipt.pem"
    public.write_bytes(ring.receipt_public_keys()[0].to_pem())
    status, out = run("receipt", "verify", str(receipt), "--public-key", str(public))
    assert status == 0, out
    assert "VALID" in out
    assert run("stay", "checkout", reference, "--receipt", str(receipt))[0] == 2  # never written over
    status, out = run("receipt", "public-key")
    assert (status, out) == (0, public.read_text())
    # The private key file from the key folder is named for what it is, not blamed on the receipt.
    (private,) = (tmp_path / "instance" / "keys").glob("receipt-*.key")
    status, out = run("receipt", "verify", str(receipt), "--public-key", str(private))
    assert status == 2
    assert "this is a private key file" in out
    assert "lethe receipt public-key" in out
    assert "MalformedFraming" not in out
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


def test_stay_cancel_confirms_and_names_the_cancellation(env: Database, tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).date()
    with env.transaction() as session:
        ring = keyring.load_or_create(tmp_path / "instance" / "keys")
        reference = create_reservation(
            session, ring, guest_name="Di Guest", arrival=today, departure=today, actor="t"
        ).stay.reference
    result = CliRunner().invoke(main, ["stay", "cancel", reference], input="n\n")
    assert result.exit_code == 1  # declined: nothing changes
    assert json.loads(run("stay", "show", reference)[1])["status"] == "reserved"
    status, out = run("stay", "cancel", reference, "--yes")
    assert status == 0, out
    assert json.loads(out) == {
        "reference": reference,
        "status": "cancelled",
        "deleted": {"templates": 0, "data_keys": 1, "sessions": 0},
    }
    status, out = run("stay", "cancel", reference, "--yes")
    assert status == 1
    assert "stay-not-active" in out


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
    assert "line 2: departure 2026-11-23 is before arrival 2026-11-25" in out
    assert ": :" not in out
    assert "Value error" not in out
    assert not (tmp_path / "more.csv").exists()
    source.write_text("guest_name,arrival,departure\nCy,23/11/2026,2026-11-24\n,2026-11-23,2026-11-24\n")
    status, out = run("reservations", "import", str(source), "--codes", str(tmp_path / "more.csv"))
    assert status == 1
    assert "line 2: arrival '23/11/2026' is not a date; write dates as YYYY-MM-DD, e.g. 2026-11-23" in out
    assert "line 3: guest_name is missing" in out


def test_integration_revoke_refuses_the_key_from_the_next_request(env: Database, tmp_path: Path) -> None:
    from service.app import create_app
    from service.settings import Settings
    from service.web.context import EXTENSION

    status, key = run("integration", "create", "front-office")
    assert status == 0, key
    key = key.strip()
    app = create_app(Settings.from_env())
    try:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/pms/v1/reservations?date=2026-12-04", headers=headers).status_code == 200
        status, out = run("integration", "revoke", "front-office", "--reason", "key leaked in a ticket")
        assert (status, out.strip()) == (0, "integration front-office revoked")
        answer = client.get("/pms/v1/reservations?date=2026-12-04", headers=headers)
        assert answer.status_code == 401
        assert answer.json is not None
        assert answer.json["code"] == "unauthenticated"
    finally:
        app.extensions[EXTENSION].db.dispose()
    status, out = run("integration", "revoke", "front-office", "--reason", "key leaked in a ticket")
    assert status == 1
    assert "invalid-transition" in out
    assert "was revoked at" in out
    assert run("integration", "revoke", "no-such-pms", "--reason", "typo in the name")[0] == 1
    assert run("integration", "revoke", "front-office", "--reason", "x")[0] == 1
    status, out = run("integration", "list", "--json")
    listed = json.loads(out)
    assert [(i["name"], i["revoked_at"] is not None) for i in listed] == [("front-office", True)]
    with env.transaction() as session:
        entries = session.execute(text("SELECT details FROM audit_log WHERE action = 'integration.revoke'")).all()
    assert len(entries) == 1
    assert json.loads(entries[0][0]) == {"name": "front-office", "reason": "key leaked in a ticket"}


def test_audit_checkpoint_export_then_verify_names_truncation(env: Database, tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).date()
    ring = keyring.load_or_create(tmp_path / "instance" / "keys")
    with env.transaction() as session:
        create_reservation(session, ring, guest_name="Di Guest", arrival=today, departure=today, actor="t")
    status, out = run("audit", "checkpoint")
    assert status == 0, out
    assert json.loads(out)["claims"]["entries"] == 1
    saved = tmp_path / "checkpoint.json"
    status, out = run("audit", "checkpoint", "export", "--output", str(saved))
    assert status == 0, out
    assert saved.stat().st_mode & 0o777 == 0o600
    assert run("audit", "checkpoint", "export", "--output", str(saved))[0] == 1  # never overwritten
    status, out = run("audit", "verify", "--checkpoint", str(saved))
    assert status == 0, out
    assert "3 signed checkpoint(s) match" in out  # the exported one and the two stored
    with env.transaction() as session:
        if env.is_sqlite:
            session.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        session.execute(text("DELETE FROM audit_checkpoints"))
        session.execute(text("DELETE FROM audit_log"))
    assert run("audit", "verify")[0] == 0  # an empty chain is intact: only a saved checkpoint tells
    status, out = run("audit", "verify", "--checkpoint", str(saved))
    assert status == 1
    assert "audit log TRUNCATED: truncated: the log holds 0 entries" in out
    forged = json.loads(saved.read_text())
    forged["checkpoints"][0]["claims"]["entries"] = 0
    saved.with_name("forged.json").write_text(json.dumps(forged))
    status, out = run("audit", "verify", "--checkpoint", str(saved.with_name("forged.json")))
    assert status == 1
    assert "checkpoint not usable" in out


def test_reservations_import_writes_printable_qr_cards(env: Database, tmp_path: Path) -> None:
    import stat

    import cv2

    from edge.qr import decode_qr
    from service.stays.booking_qr import qr_png, qr_svg

    source = tmp_path / "arrivals.csv"
    source.write_text(
        "guest_name,arrival,departure\nAda <Lovelace>,2026-11-23,2026-11-24\n林美,2026-11-23,2026-11-25\n"
    )
    cards = tmp_path / "cards"
    status, out = run("reservations", "import", str(source), "--codes", str(tmp_path / "c.csv"), "--cards", str(cards))
    assert status == 0, out
    assert "2 QR card(s)" in out
    assert stat.S_IMODE(cards.stat().st_mode) == 0o700
    codes = {row[0]: row[2] for row in (line.split(",") for line in (tmp_path / "c.csv").read_text().splitlines()[1:])}
    assert sorted(p.name for p in cards.iterdir()) == sorted([*(f"{r}.svg" for r in codes), "index.html"])
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in cards.iterdir())
    for reference, code in codes.items():
        card = (cards / f"{reference}.svg").read_text()
        assert f"Booking {reference}" in card
        # The card's QR is the booking code's own (segno's SVG path, the same modules as the PNG that reads back).
        assert qr_svg(code, scale=10).split("<path ", 1)[1].split("/>", 1)[0] in card
        assert decode_qr(cv2.imdecode(np.frombuffer(qr_png(code), np.uint8), cv2.IMREAD_COLOR)) == code
        assert code not in card  # the card holds the QR, not the code as text
    assert "Ada &lt;Lovelace&gt;" in "".join(p.read_text() for p in cards.glob("*.svg"))
    assert "林美" in "".join(p.read_text() for p in cards.glob("*.svg"))
    # An existing folder is never written into, and nothing is imported then.
    again = tmp_path / "again.csv"
    status, out = run("reservations", "import", str(source), "--codes", str(again), "--cards", str(cards))
    assert status == 2
    assert "never written over" in out
    assert not again.exists()
