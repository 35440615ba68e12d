"""Staff accounts: roles, argon2id passwords, TOTP two-factor, lockout and a login rate limit.

Plain functions on a SQLAlchemy session (no Flask), so the CLI and the panel share them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

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
    """A login that did not succeed. ``reason`` is for the audit log; the user sees one message."""

    code = "unauthenticated"
    status = 401
    title = "Authentication is required"

    def __init__(self, reason: str, *, rate_limited: bool = False) -> None:
        super().__init__()
        self.reason = reason
        self.rate_limited = rate_limited


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


def authenticate(
    session: Session, keyring: Keyring, *, username: str, password: str, code: str, source: str, now: dt.datetime
) -> StaffAccount:
    """Check a login; on failure count it (per account and per source) and raise :class:`LoginRefused`.

    The account locks for ``LOCKOUT`` after ``MAX_FAILURES`` consecutive failures;
    a source address with ``RATE_LIMIT`` failures in ``RATE_WINDOW`` is refused
    before any password is checked.
    """
    digest = source_digest(source)
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - RATE_WINDOW))
    recent = session.scalar(select(func.count()).select_from(LoginFailure).where(LoginFailure.source == digest))
    if (recent or 0) >= RATE_LIMIT:
        raise LoginRefused("rate-limited", rate_limited=True)
    account = session.scalars(
        select(StaffAccount).where(StaffAccount.username == username.strip().lower()).with_for_update()
    ).first()
    if account is None:
        _verify(_DUMMY, password)
        _fail(session, digest, now, None, "unknown-user")
    assert account is not None
    if account.disabled_at is not None:
        _verify(_DUMMY, password)
        _fail(session, digest, now, account, "disabled")
    if account.locked_until is not None and account.locked_until > now:
        _fail(session, digest, now, account, "locked", count=False)
    if not _verify(account.password_hash, password):
        _fail(session, digest, now, account, "bad-password")
    if account.totp_secret is not None:
        step = _totp_step(staff_secrets.open_secret(keyring, account.id, account.totp_secret), code, now)
        if step is None or step <= account.totp_last_step:
            _fail(session, digest, now, account, "bad-totp")
        account.totp_last_step = step or 0
    elif account.role in TOTP_REQUIRED:
        _fail(session, digest, now, account, "totp-not-set-up")
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    account.failed_logins = 0
    account.locked_until = None
    account.last_login_at = now
    audit.append(session, audit.Entry(actor=f"staff:{account.username}", action="staff.login", subject=account.id))
    return account


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
    digest: str,
    now: dt.datetime,
    account: StaffAccount | None,
    reason: str,
    *,
    count: bool = True,
) -> None:
    session.add(LoginFailure(source=digest, at=now))
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


def totp_uri(account: StaffAccount, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account.username, issuer_name=ISSUER)


def set_language(session: Session, account: StaffAccount, language: str) -> None:
    account.language = language
