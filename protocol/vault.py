"""Secrets at rest: templates under a per-stay data key that needs the stay secret, and staff TOTP secrets.

Each stay has a random 32-byte *key seed*, stored only wrapped (AES-256-GCM)
under one of the service's key-encryption keys (KEKs). The data key is

    HKDF-SHA256(ikm = key_seed || stay_secret, salt = "", info = DATA_KEY_INFO || stay_id)

so opening a stored template needs the KEK *and* the stay secret, which only
the guest holds. Destroying the wrapped seed destroys the data key
(crypto-shredding); rotating a KEK re-wraps the seed without the stay secret.

A staff account's TOTP secret is sealed with AES-256-GCM under one of the
service's staff-secret keys, bound to the account id
(:func:`seal_staff_secret`), so a value copied onto another account does not open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocol.errors import ProtocolError

KEY_WRAP_DOMAIN = b"lethe/v1 stay-key-wrap\x00"
DATA_KEY_INFO = b"lethe/v1 template-data-key\x00"
TEMPLATE_AAD_DOMAIN = b"lethe/v1 stored-template\x00"
STAFF_SECRET_AAD_DOMAIN = b"lethe/v1 staff-totp\x00"
NONCE_LENGTH = 12
KEY_LENGTH = 32


class VaultError(ProtocolError):
    """A wrapped key or stored template could not be opened (wrong key or tampered)."""


def new_key_seed() -> bytes:
    """Return a fresh random 32-byte stay key seed."""
    return os.urandom(KEY_LENGTH)


def new_kek() -> bytes:
    """Return a fresh random 32-byte key-encryption key."""
    return AESGCM.generate_key(bit_length=256)


def wrap_key_seed(kek: bytes, seed: bytes, *, stay_id: str) -> bytes:
    """Wrap ``seed`` under ``kek``; returns nonce || ciphertext || tag (60 bytes)."""
    return _wrap_from_parts(kek, seed, stay_id=stay_id, nonce=os.urandom(NONCE_LENGTH))


def _wrap_from_parts(kek: bytes, seed: bytes, *, stay_id: str, nonce: bytes) -> bytes:
    aad = KEY_WRAP_DOMAIN + stay_id.encode()
    return nonce + AESGCM(kek).encrypt(nonce, seed, aad)


def unwrap_key_seed(kek: bytes, wrapped: bytes, *, stay_id: str) -> bytes:
    return _open(kek, wrapped, KEY_WRAP_DOMAIN + stay_id.encode())


def derive_data_key(seed: bytes, stay_secret: bytes, *, stay_id: str) -> bytes:
    """Derive the stay's 32-byte template data key from the key seed and the stay secret."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_LENGTH, salt=None, info=DATA_KEY_INFO + stay_id.encode())
    return hkdf.derive(seed + stay_secret)


def encrypt_template(data_key: bytes, template_bytes: bytes, *, record_id: str) -> bytes:
    """Encrypt an encoded template for storage, bound to its record id."""
    return _encrypt_from_parts(data_key, template_bytes, record_id=record_id, nonce=os.urandom(NONCE_LENGTH))


def _encrypt_from_parts(data_key: bytes, template_bytes: bytes, *, record_id: str, nonce: bytes) -> bytes:
    return nonce + AESGCM(data_key).encrypt(nonce, template_bytes, TEMPLATE_AAD_DOMAIN + record_id.encode())


def decrypt_template(data_key: bytes, stored: bytes, *, record_id: str) -> bytes:
    return _open(data_key, stored, TEMPLATE_AAD_DOMAIN + record_id.encode())


def seal_staff_secret(key: bytes, secret: bytes, *, staff_id: str) -> bytes:
    """Seal a staff account's TOTP secret under a staff-secret key; returns nonce || ciphertext || tag."""
    nonce = os.urandom(NONCE_LENGTH)
    return nonce + AESGCM(key).encrypt(nonce, secret, STAFF_SECRET_AAD_DOMAIN + staff_id.encode())


def open_staff_secret(key: bytes, sealed: bytes, *, staff_id: str) -> bytes:
    """Open what :func:`seal_staff_secret` sealed for ``staff_id``; raise :class:`VaultError` otherwise."""
    return _open(key, sealed, STAFF_SECRET_AAD_DOMAIN + staff_id.encode())


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < NONCE_LENGTH + 16:
        raise VaultError("sealed blob too short")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_LENGTH], blob[NONCE_LENGTH:], aad)
    except InvalidTag:
        raise VaultError("wrong key or tampered data") from None
