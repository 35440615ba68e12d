"""Staff TOTP secrets at rest: sealed under the keyring's staff-secret key, bound to the account id.

The ``staff.totp_secret`` column holds ``v1.<key id>.<base64url(sealed)>``, where ``sealed``
is :func:`protocol.vault.seal_staff_secret`'s AES-256-GCM ``nonce ‖ ciphertext ‖ tag`` with
associated data ``"lethe/v1 staff-totp\\0" ‖ staff id``, so a value copied onto another
account does not open. The newest ``staff-secret`` key seals; every key in the keyring opens.
``lethe keys rotate staff`` adds a key and re-seals every secret under it in the same
transaction; ``lethe keys retire`` refuses a staff-secret key that still seals an account.
The base32 secret exists in clear only while a code is checked or when it is shown once
to the person enrolling it.
"""

from __future__ import annotations

import base64

from sqlalchemy import select
from sqlalchemy.orm import Session

from protocol.encoding import b64url_decode
from protocol.vault import VaultError, open_staff_secret, seal_staff_secret
from service.errors import OperatorError
from service.keyring import Keyring, KeyringError
from service.storage.tables import StaffAccount, WebhookEndpoint

VERSION = "v1"


class TotpVaultError(OperatorError):
    """A stored TOTP secret is malformed, sealed for another account, or under a key not in the keyring."""


def seal(keyring: Keyring, staff_id: str, secret: str) -> str:
    key_id = keyring.current_staff_key_id
    sealed = seal_staff_secret(keyring.staff_key(key_id), secret.encode(), staff_id=staff_id)
    return f"{VERSION}.{key_id}.{base64.urlsafe_b64encode(sealed).decode().rstrip('=')}"


def is_sealed(stored: str) -> bool:
    return stored.startswith(f"{VERSION}.")


def open_secret(keyring: Keyring, staff_id: str, stored: str) -> str:
    try:
        version, key_id, body = stored.split(".")
        if version != VERSION:
            raise ValueError(version)
        blob = b64url_decode(body)
        return open_staff_secret(keyring.staff_key(key_id), blob, staff_id=staff_id).decode()
    except (ValueError, VaultError, KeyringError, UnicodeDecodeError) as exc:
        raise TotpVaultError(f"the TOTP secret of account {staff_id} does not open: {type(exc).__name__}") from None


def key_id_of(stored: str) -> str | None:
    """The id of the key a stored secret is sealed under (None if it is not sealed)."""
    parts = stored.split(".")
    return parts[1] if len(parts) == 3 and parts[0] == VERSION else None


def reseal_all(session: Session, keyring: Keyring) -> int:
    """Seal every account's TOTP secret and every webhook endpoint's signing secret under the newest staff-secret
    key (after a rotation); returns how many."""
    current = keyring.current_staff_key_id
    count = 0
    for account in session.scalars(select(StaffAccount).where(StaffAccount.totp_secret.is_not(None))):
        stored = account.totp_secret
        if stored is None or key_id_of(stored) == current:
            continue
        account.totp_secret = seal(keyring, account.id, open_secret(keyring, account.id, stored))
        count += 1
    for endpoint in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.removed_at.is_(None))):
        if key_id_of(endpoint.secret) == current:
            continue
        binding = f"webhook:{endpoint.id}"
        endpoint.secret = seal(keyring, binding, open_secret(keyring, binding, endpoint.secret))
        count += 1
    return count


def accounts_per_key(session: Session) -> dict[str, int]:
    """How many stored secrets (staff TOTP, active webhook endpoints) each staff-secret key seals."""
    counts: dict[str, int] = {}
    staff = session.scalars(select(StaffAccount.totp_secret).where(StaffAccount.totp_secret.is_not(None))).all()
    hooks = session.scalars(select(WebhookEndpoint.secret).where(WebhookEndpoint.removed_at.is_(None))).all()
    for stored in [*staff, *hooks]:
        key_id = key_id_of(stored or "")
        if key_id is not None:
            counts[key_id] = counts.get(key_id, 0) + 1
    return counts
