"""Key rotation with no downtime: new keys are used at once, old envelopes and stays still open, retire is safe."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import select

from lethe.cli import main
from protocol import Suite, verify_receipt
from service.keyring.rotation import list_keys
from service.storage.tables import StayKey
from service.web.context import EXTENSION
from tests.helpers.service import Actions, near, random_template


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_rotation_while_serving(actions: Actions, monkeypatch) -> None:
    app = actions.client.application
    settings = actions.svc.settings
    monkeypatch.setenv("LETHE_INSTANCE_PATH", str(settings.instance_path))
    monkeypatch.setenv("LETHE_DATABASE_URL", settings.resolved_database_url)
    reference = random_template(61)
    # a stay checked in under the old KEK, and an envelope sealed to the old HPKE key
    code, answer = actions.checkin(near(reference, 0.01), reference)
    assert answer.json["decision"] == "accepted"
    pending_code = actions.reservation("Late Guest")
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, pending_code.reference)
    old_recipient = actions.recipient(Suite.MLKEM768_X25519)
    sealed_to_old = actions.envelope(kiosk, opened, pending_code, near(reference, 0.01), reference)
    old_kek = actions.svc.keyring.current_kek_id

    status, out = run("keys", "rotate", "all")
    assert status == 0, out
    assert "re-wrapped 2 stay key(s)" in out

    keys_answer = actions.client.get("/api/v1/keys").json
    service = app.extensions[EXTENSION]
    assert service.keyring.current_kek_id != old_kek
    assert keys_answer["hpke"][0]["key_id"] != old_recipient.key_id.hex()
    assert len(keys_answer["hpke"]) == 4
    # the envelope sealed to the old key still opens; the re-wrapped stay still re-verifies
    assert actions.verify(sealed_to_old).json["decision"] == "accepted"
    again = actions.session(kiosk, code.reference)
    answer = actions.verify(actions.envelope(kiosk, again, code, near(reference, 0.02), None))
    assert answer.json["decision"] == "accepted", answer.json
    with service.db.transaction() as session:
        assert set(session.scalars(select(StayKey.kek_id))) == {service.keyring.current_kek_id}
    # receipts are signed by the new receipt key, which /api/v1/keys lists first
    receipt = actions.client.post(f"/pms/v1/reservations/{code.reference}/checkout", headers=actions.pms).json
    from protocol import VerifyKey

    newest = VerifyKey.from_pem(keys_answer["receipt"][0]["public_key_pem"].encode())
    assert verify_receipt(receipt["receipt"], newest).templates == 1

    status, out = run("keys", "retire", service.keyring.current_kek_id)
    assert status == 1
    assert "newest" in out
    status, out = run("keys", "retire", old_kek)
    assert status == 0, out
    status, out = run("keys", "list", "--json")
    listed = json.loads(out)
    assert old_kek not in {k["key_id"] for k in listed}
    assert all("secret" not in k for k in listed)
    assert actions.client.get("/api/v1/keys").status_code == 200
    assert old_kek not in app.extensions[EXTENSION].keyring.keks


def test_a_kek_in_use_cannot_be_retired(actions: Actions, monkeypatch) -> None:
    settings = actions.svc.settings
    monkeypatch.setenv("LETHE_INSTANCE_PATH", str(settings.instance_path))
    monkeypatch.setenv("LETHE_DATABASE_URL", settings.resolved_database_url)
    actions.reservation()
    old_kek = actions.svc.keyring.current_kek_id
    assert run("keys", "rotate", "kek", "--no-rewrap")[0] == 0
    status, out = run("keys", "retire", old_kek)
    assert status == 1
    assert "still wraps 1 stay key" in out
    with actions.svc.db.transaction() as session:
        infos = {k.key_id: k for k in list_keys(settings.resolved_key_dir, session)}
    assert infos[old_kek].wraps == 1
    assert not infos[old_kek].current


def test_a_read_only_credentials_folder_is_accepted(tmp_path) -> None:
    """systemd's credentials folder ($CREDENTIALS_DIRECTORY, ``%d``) is 0500 with 0400 files."""
    import os

    from service.keyring import load_or_create

    first = load_or_create(tmp_path / "creds")
    for path in (tmp_path / "creds").iterdir():
        os.chmod(path, 0o400)
    os.chmod(tmp_path / "creds", 0o500)
    try:
        again = load_or_create(tmp_path / "creds")
        assert again.keks == first.keks
        assert [k.raw for k in again.hpke] == [k.raw for k in first.hpke]
    finally:
        os.chmod(tmp_path / "creds", 0o700)
