"""Staff TOTP secrets are sealed at rest (AES-GCM, staff-secret key, bound to the account id)."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from sqlalchemy import text

from service.keyring import add_key, load_or_create, staff_secrets
from service.settings import Settings
from service.storage import migrate
from service.storage.db import make_engine
from service.web.context import Service
from tests.helpers.service import Staff


def raw_secrets(url: str) -> dict[str, str | None]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                row.username: row.totp_secret for row in conn.execute(text("SELECT username, totp_secret FROM staff"))
            }
    finally:
        engine.dispose()


def dump(url: str) -> str:
    """Every value of every row of the staff table, as text."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return repr(conn.execute(text("SELECT * FROM staff")).all())
    finally:
        engine.dispose()


def test_the_database_holds_no_clear_secret_and_sign_in_still_works(
    staff: Staff, svc: Service, settings: Settings
) -> None:
    manager = staff.create("manager")
    assert manager.secret is not None
    stored = raw_secrets(settings.resolved_database_url)["manager"]
    assert stored is not None
    assert stored.startswith("v1.")
    assert manager.secret not in dump(settings.resolved_database_url)
    assert staff_secrets.open_secret(svc.keyring, _id(svc, "manager"), stored) == manager.secret
    answer = staff.login(manager)
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/panel/today")


def test_a_sealed_secret_does_not_open_for_another_account_or_key(
    staff: Staff, svc: Service, settings: Settings, tmp_path: Path
) -> None:
    manager = staff.create("manager")
    stored = raw_secrets(settings.resolved_database_url)["manager"]
    assert stored is not None
    with pytest.raises(staff_secrets.TotpVaultError):
        staff_secrets.open_secret(svc.keyring, "another-account-id", stored)
    other = load_or_create(tmp_path / "other-keys")
    with pytest.raises(staff_secrets.TotpVaultError):
        staff_secrets.open_secret(other, _id(svc, "manager"), stored)
    tampered = stored[:-2] + ("A" if stored[-2] != "A" else "B") + stored[-1]
    with pytest.raises(staff_secrets.TotpVaultError):
        staff_secrets.open_secret(svc.keyring, _id(svc, "manager"), tampered)
    assert manager.secret


def test_migration_seals_existing_clear_secrets(database_url: str, tmp_path: Path) -> None:
    migrate.upgrade(database_url, "0300_session_challenge")
    secret = pyotp.random_base32()
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO staff (id, username, display_name, role, password_hash, totp_secret, totp_last_step,"
                " language, failed_logins, session_version, created_at)"
                " VALUES ('acct-1', 'old', 'Old', 'admin', 'x', :secret, 0, 'en', 0, 1, CURRENT_TIMESTAMP)"
            ),
            {"secret": secret},
        )
    engine.dispose()
    # Without the key folder the migration refuses rather than leave the secret in clear.
    with pytest.raises(RuntimeError, match="key folder"):
        migrate.upgrade(database_url)
    assert raw_secrets(database_url)["old"] == secret
    key_dir = tmp_path / "keys"
    migrate.upgrade(database_url, key_dir=key_dir)
    sealed = raw_secrets(database_url)["old"]
    assert sealed is not None
    assert secret not in sealed
    assert secret not in dump(database_url)
    assert staff_secrets.open_secret(load_or_create(key_dir), "acct-1", sealed) == secret
    # Upgrading again changes nothing; downgrading opens the secret again.
    migrate.upgrade(database_url, key_dir=key_dir)
    assert raw_secrets(database_url)["old"] == sealed
    migrate.downgrade(database_url, "0300_session_challenge", key_dir=key_dir)
    assert raw_secrets(database_url)["old"] == secret


def _id(svc: Service, username: str) -> str:
    from service.storage.tables import StaffAccount

    with svc.db.transaction() as session:
        return session.query(StaffAccount).filter_by(username=username).one().id


def test_rotating_the_staff_key_reseals_and_retire_waits_for_it(staff: Staff, svc: Service, settings: Settings) -> None:
    from service.keyring.rotation import RetireRefused, retire, rotate

    manager = staff.create("manager")
    old_key = svc.keyring.current_staff_key_id
    # A newer key added without re-sealing: the old one still seals the manager's secret.
    add_key(settings.resolved_key_dir, "staff-secret")
    with svc.db.transaction() as session, pytest.raises(RetireRefused, match="still seals 1 staff"):
        retire(settings.resolved_key_dir, old_key, session=session, actor="test")
    with svc.db.transaction() as session:
        (added,) = rotate(settings.resolved_key_dir, "staff", session=session, actor="test")
    stored = raw_secrets(settings.resolved_database_url)["manager"]
    assert stored is not None
    assert staff_secrets.key_id_of(stored) == added.key_id
    ring = load_or_create(settings.resolved_key_dir)
    assert staff_secrets.open_secret(ring, _id(svc, "manager"), stored) == manager.secret
    with svc.db.transaction() as session:
        retire(settings.resolved_key_dir, old_key, session=session, actor="test")
