"""Checkout forgets the face: templates and data key deleted, a receipt anyone can verify offline."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from sqlalchemy import func, select

from protocol import InvalidSignature, VerifyKey, verify_receipt
from protocol.vault import VaultError, decrypt_template, derive_data_key, unwrap_key_seed
from service.storage.tables import Stay, StayKey, StoredTemplate
from tests.helpers.service import Actions, near, random_template


def checked_in(actions: Actions):
    reference = random_template(11)
    code, answer = actions.checkin(near(reference, 0.01), reference)
    assert answer.json["decision"] == "accepted"
    return code


def receipt_key(actions: Actions) -> VerifyKey:
    pem = actions.client.get("/api/v1/keys").json["receipt"][0]["public_key_pem"]
    return VerifyKey.from_pem(pem.encode())


def test_checkout_deletes_templates_and_data_key_and_signs_a_receipt(actions: Actions) -> None:
    code = checked_in(actions)
    with actions.svc.db.transaction() as session:
        stay = session.scalars(select(Stay).where(Stay.reference == code.reference)).one()
        assert (
            session.scalar(select(func.count()).select_from(StoredTemplate).where(StoredTemplate.stay_id == stay.id))
            == 1
        )
    answer = actions.client.post(f"/pms/v1/reservations/{code.reference}/checkout", headers=actions.pms)
    assert answer.status_code == 200, answer.json
    receipt = answer.json["receipt"]
    with actions.svc.db.transaction() as session:
        assert (
            session.scalar(select(func.count()).select_from(StoredTemplate).where(StoredTemplate.stay_id == stay.id))
            == 0
        )
        assert session.get(StayKey, stay.id) is None
        assert session.get_one(Stay, stay.id).status == "checked_out"
    assert receipt["claims"]["deleted"] == {"templates": 1, "data_keys": 1}
    claims = verify_receipt(receipt, receipt_key(actions))
    assert (claims.templates, claims.data_keys) == (1, 1)
    assert claims.stay_ref_digest == code.fingerprint  # the guest can recognise their receipt from the QR
    assert claims.deleted_at <= dt.datetime.now(dt.UTC)


def test_receipt_fails_when_one_byte_changes(actions: Actions) -> None:
    code = checked_in(actions)
    receipt = actions.client.post(f"/pms/v1/reservations/{code.reference}/checkout", headers=actions.pms).json[
        "receipt"
    ]
    key = receipt_key(actions)
    verify_receipt(receipt, key)
    tampered = copy.deepcopy(receipt)
    tampered["claims"]["deleted"]["templates"] = 0
    with pytest.raises(InvalidSignature):
        verify_receipt(tampered, key)
    signature = bytearray(receipt["signature"].encode())
    signature[5] = ord("A") if signature[5] != ord("A") else ord("B")
    with pytest.raises(InvalidSignature):
        verify_receipt({**receipt, "signature": signature.decode()}, key)


def test_checkout_twice_is_a_problem(actions: Actions) -> None:
    code = checked_in(actions)
    assert (
        actions.client.post(f"/pms/v1/reservations/{code.reference}/checkout", headers=actions.pms).status_code == 200
    )
    again = actions.client.post(f"/pms/v1/reservations/{code.reference}/checkout", headers=actions.pms)
    assert again.status_code == 409
    assert again.json["code"] == "stay-not-active"


def test_no_checkin_after_checkout(actions: Actions) -> None:
    code = checked_in(actions)
    actions.client.post(f"/pms/v1/reservations/{code.reference}/checkout", headers=actions.pms)
    kiosk = actions.kiosk()
    answer = actions.open_session(kiosk, code.reference)
    assert answer.status_code == 409
    assert answer.json["code"] == "stay-not-active"


def test_database_and_every_server_key_cannot_open_a_template_without_the_stay_secret(actions: Actions) -> None:
    """Promise 2: the stored template needs the guest's stay secret, which the service never keeps."""
    code = checked_in(actions)
    ring = actions.svc.keyring
    with actions.svc.db.transaction() as session:
        stay = session.scalars(select(Stay).where(Stay.reference == code.reference)).one()
        stored = session.scalars(select(StoredTemplate).where(StoredTemplate.stay_id == stay.id)).one()
        stay_key = session.get_one(StayKey, stay.id)
        columns = [str(v) for v in vars(stay).values()]
    assert all(code.stay_secret.hex() not in c for c in columns)
    seed = unwrap_key_seed(ring.kek(stay_key.kek_id), stay_key.wrapped_seed, stay_id=stay.id)
    for guess in (b"\x00" * 16, bytes.fromhex(stay.secret_fingerprint)[:16], seed[:16]):
        with pytest.raises(VaultError):
            decrypt_template(derive_data_key(seed, guess, stay_id=stay.id), stored.ciphertext, record_id=stored.id)
    for kek in ring.keks.values():
        with pytest.raises(VaultError):
            decrypt_template(kek, stored.ciphertext, record_id=stored.id)
    # With the guest's secret it opens: the failures above are for want of the secret, not a broken store.
    assert decrypt_template(
        derive_data_key(seed, code.stay_secret, stay_id=stay.id), stored.ciphertext, record_id=stored.id
    )
