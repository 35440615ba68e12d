"""Staff accounts: roles, argon2id passwords, TOTP two-factor, sign-in throttling, ending sessions.

Plain functions on a SQLAlchemy session (no Flask), so the CLI and the panel share them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from service.errors import AlreadyExists, BadRequest, LetheError, NotFound
from service.keyring import Keyring, staff_secrets
from service.storage import audit
from service.storage.tables import LoginFailure, StaffAccount, new_id

FRONT_DESK, MANAGER, ADMIN = "front_desk", "manager", "admin"
ROLES = (FRONT_DESK, MANAGER, ADMIN)
RANK = {FRONT_DESK: 1, MANAGER: 2, ADMIN: 3}
TOTP_REQUIRED = frozenset({MANAGER, ADMIN})
MAX_FAILURES = 5  # consecutive failures before the account locks
LOCKOUT = dt.timedelta(minutes=15)
RATE_WINDOW = dt.timedelta(minutes=15)
RATE_LIMIT = 20  # failed logins per source address per window
SESSION_LIFETIME = dt.timedelta(hours=12)  # a session ends this long after sign-in, however active
MIN_PASSWORD = 12
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
ISSUER = "Lethe panel"

# argon2id with the library's RFC 9106 "low memory" profile defaults (t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()
# A hash to verify against when the username is unknown, so both paths cost the same.
_DUMMY = _hasher.hash("lethe-no-such-user")


@dataclass(frozen=True)
class NewAccount:
    account: StaffAccount
    totp_secret: str | None

    def totp_uri(self) -> str | None:
        if self.totp_secret is None:
            return None
        return pyotp.TOTP(self.totp_secret).provisioning_uri(name=self.account.username, issuer_name=ISSUER)


class LoginRefused(LetheError):
    """A login that did not succeed. ``reason`` is for the audit log; the user sees one message, whatever it is."""

    code = "unauthenticated"
    status = 401
    title = "Authentication is required"

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"the password must have at least {MIN_PASSWORD} characters")


def create_account(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str,
    actor: str,
    keyring: Keyring,
    with_totp: bool | None = None,
) -> NewAccount:
    """Create a staff account. TOTP is always set up for managers and admins; the secret is returned once."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise BadRequest("usernames are 2-64 lower-case letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}")
    check_password_rules(password)
    if session.scalars(select(StaffAccount.id).where(StaffAccount.username == username)).first() is not None:
        raise AlreadyExists(f"a staff account named {username} exists")
    secret = pyotp.random_base32() if (with_totp or role in TOTP_REQUIRED) else None
    account_id = new_id()
    account = StaffAccount(
        id=account_id,
        username=username,
        display_name=display_name.strip() or username,
        role=role,
        password_hash=_hasher.hash(password),
        totp_secret=None if secret is None else staff_secrets.seal(keyring, account_id, secret),
        totp_last_step=0,
        language="en",
        failed_logins=0,
        session_version=1,
    )
    session.add(account)
    session.flush()
    audit.append(session, audit.Entry(actor=actor, action="staff.create", subject=account.id, details={"role": role}))
    return NewAccount(account, secret)


def source_digest(address: str) -> str:
    return hashlib.sha256(b"lethe/v1 login-source\x00" + address.encode()).hexdigest()


def device_digest(nonce: str) -> str:
    return hashlib.sha256(b"lethe/v1 login-device\x00" + nonce.encode()).hexdigest()


def new_device_nonce() -> str:
    """A fresh device-cookie nonce, given to a browser at each successful sign-in."""
    return secrets.token_urlsafe(16)


def authenticate(
    session: Session,
    keyring: Keyring,
    *,
    username: str,
    password: str,
    code: str,
    source: str,
    now: dt.datetime,
    devices: Mapping[str, str] | None = None,
) -> StaffAccount:
    """Check a login; on failure count it and raise :class:`LoginRefused`, the same for every cause.

    Every attempt verifies one argon2id hash (the account's, or a dummy one for an
    unknown, disabled or locked account), so a refusal takes as long whatever its
    cause. Throttling follows OWASP's device cookies: ``devices`` maps account ids
    to the nonces of the device cookies the browser presented (checked by the
    caller). From a *known device* of the account, failures count against that
    device only and ``MAX_FAILURES`` within ``RATE_WINDOW`` lock it. From any
    other browser, ``MAX_FAILURES`` consecutive failures lock the account to
    unknown browsers for ``LOCKOUT``, and ``RATE_LIMIT`` failures from one source
    address within ``RATE_WINDOW`` refuse unknown browsers from that address. So a
    guesser on the lobby's network can block new browsers, never the desk's own.
    """
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - RATE_WINDOW))
    account = session.scalars(
        select(StaffAccount).where(StaffAccount.username == username.strip().lower()).with_for_update()
    ).first()
    usable = account is not None and account.disabled_at is None
    password_ok = _verify(account.password_hash if account is not None and usable else _DUMMY, password)
    nonce = (devices or {}).get(account.id) if account is not None else None
    counter = device_digest(nonce) if nonce is not None else source_digest(source)
    if account is None:
        _fail(session, counter, now, None, "unknown-user")
    assert account is not None
    if not usable:
        _fail(session, counter, now, account, "disabled")
    if nonce is not None:
        if _recent_failures(session, counter) >= MAX_FAILURES:
            _fail(session, counter, now, account, "device-locked", count=False)
    else:
        if account.locked_until is not None and account.locked_until > now:
            _fail(session, counter, now, account, "locked", count=False)
        if _recent_failures(session, counter) >= RATE_LIMIT:
            _fail(session, counter, now, account, "rate-limited", count=False)
    if not password_ok:
        _fail(session, counter, now, account, "bad-password", count=nonce is None)
    if account.totp_secret is not None:
        step = _totp_step(staff_secrets.open_secret(keyring, account.id, account.totp_secret), code, now)
        if step is None or step <= account.totp_last_step:
            _fail(session, counter, now, account, "bad-totp", count=nonce is None)
        account.totp_last_step = step or 0
    elif account.role in TOTP_REQUIRED:
        _fail(session, counter, now, account, "totp-not-set-up", count=nonce is None)
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    if nonce is None:
        account.failed_logins = 0
        account.locked_until = None
    account.last_login_at = now
    audit.append(session, audit.Entry(actor=f"staff:{account.username}", action="staff.login", subject=account.id))
    return account


def _recent_failures(session: Session, counter: str) -> int:
    found = session.scalar(select(func.count()).select_from(LoginFailure).where(LoginFailure.source == counter))
    return found or 0


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _totp_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step ``code`` belongs to (current one or one either side), or None."""
    code = code.strip().replace(" ", "")
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    for offset in (-1, 0, 1):
        moment = now + dt.timedelta(seconds=offset * totp.interval)
        if totp.verify(code, for_time=moment, valid_window=0):
            return int(moment.timestamp()) // totp.interval
    return None


def _fail(
    session: Session,
    counter: str,
    now: dt.datetime,
    account: StaffAccount | None,
    reason: str,
    *,
    count: bool = True,
) -> None:
    session.add(LoginFailure(source=counter, at=now))
    if account is not None and count:
        account.failed_logins += 1
        if account.failed_logins >= MAX_FAILURES:
            account.locked_until = now + LOCKOUT
            account.failed_logins = 0
            audit.append(session, audit.Entry(actor="panel", action="staff.lockout", subject=account.id))
    audit.append(
        session,
        audit.Entry(
            actor="panel",
            action="staff.login.failed",
            subject=account.id if account is not None else None,
            details={"reason": reason},
        ),
    )
    raise LoginRefused(reason)


def get_account(session: Session, account_id: str) -> StaffAccount:
    account = session.get(StaffAccount, account_id)
    if account is None:
        raise NotFound("no such staff account")
    return account


def disable(session: Session, account: StaffAccount, *, actor: str, now: dt.datetime) -> None:
    account.disabled_at = now
    account.session_version += 1
    audit.append(session, audit.Entry(actor=actor, action="staff.disable", subject=account.id))


def end_sessions(session: Session, account: StaffAccount, *, actor: str, action: str = "staff.sign-out") -> None:
    """End every session of ``account`` on every device (its cookies carry the old session version)."""
    account.session_version += 1
    audit.append(session, audit.Entry(actor=actor, action=action, subject=account.id))


def enable(session: Session, account: StaffAccount, *, actor: str) -> None:
    account.disabled_at = None
    account.failed_logins = 0
    account.locked_until = None
    audit.append(session, audit.Entry(actor=actor, action="staff.enable", subject=account.id))


def reset_totp(session: Session, keyring: Keyring, account: StaffAccount, *, actor: str) -> str:
    """Give the account a new TOTP secret (returned once; stored sealed) and end its sessions."""
    secret = pyotp.random_base32()
    account.totp_secret = staff_secrets.seal(keyring, account.id, secret)
    account.totp_last_step = 0
    account.session_version += 1
    audit.append(session, audit.Entry(actor=actor, action="staff.totp.reset", subject=account.id))
    return secret


@dataclass(frozen=True)
class PasswordReset:
    """What an admin's password reset gives the account's owner, shown once: a temporary password and,
    for an account with two-factor, a new TOTP secret."""

    username: str
    password: str = field(repr=False)
    totp_secret: str | None = field(repr=False)

    def totp_uri(self) -> str | None:
        if self.totp_secret is None:
            return None
        return pyotp.TOTP(self.totp_secret).provisioning_uri(name=self.username, issuer_name=ISSUER)


def change_password(session: Session, account: StaffAccount, *, current: str, new: str, now: dt.datetime) -> bool:
    """The account's owner changes its password; False (recorded) if ``current`` is wrong.

    A success ends every session of the account (the caller starts a new one for
    the browser that asked) and clears a reset's forced change. Wrong current
    passwords count as failed sign-ins: ``MAX_FAILURES`` in a row lock the
    account to unknown browsers and end its sessions, so a borrowed session
    cannot be used to guess the password.
    """
    if not _verify(account.password_hash, current):
        account.failed_logins += 1
        audit.append(session, audit.Entry(actor="panel", action="staff.password.failed", subject=account.id))
        if account.failed_logins >= MAX_FAILURES:
            account.failed_logins = 0
            account.locked_until = now + LOCKOUT
            end_sessions(session, account, actor="panel", action="staff.lockout")
        return False
    check_password_rules(new)
    if _verify(account.password_hash, new):
        raise BadRequest("the new password must differ from the current one")
    account.password_hash = _hasher.hash(new)
    account.must_change_password = False
    account.failed_logins = 0
    end_sessions(session, account, actor=f"staff:{account.username}", action="staff.password.change")
    return True


def reset_password(session: Session, keyring: Keyring, account: StaffAccount, *, actor: str) -> PasswordReset:
    """An admin's reset for a forgotten password or a lost authenticator: a random temporary password
    that must be changed at the next sign-in, a new TOTP secret if the account uses two-factor (the old
    authenticator stops working), the lock cleared, and every session of the account ended."""
    password = secrets.token_urlsafe(12)
    account.password_hash = _hasher.hash(password)
    account.must_change_password = True
    account.failed_logins = 0
    account.locked_until = None
    secret = None
    if account.totp_secret is not None or account.role in TOTP_REQUIRED:
        secret = pyotp.random_base32()
        account.totp_secret = staff_secrets.seal(keyring, account.id, secret)
        account.totp_last_step = 0
    end_sessions(session, account, actor=actor, action="staff.password.reset")
    return PasswordReset(account.username, password, secret)


def totp_uri(account: StaffAccount, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account.username, issuer_name=ISSUER)


def set_language(session: Session, account: StaffAccount, language: str) -> None:
    account.language = language
