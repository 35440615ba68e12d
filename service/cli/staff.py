"""``lethe staff``: panel accounts from the command line (bootstraps the first admin)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click
from sqlalchemy.orm import Session

from service.cli.common import actor_option, command_session

if TYPE_CHECKING:
    from service.storage.tables import StaffAccount


@click.group()
def staff() -> None:
    """Staff accounts of the front-desk panel (/panel)."""


@staff.command("create")
@click.option(
    "--username", default="admin", show_default=True, help="Login name: lower-case letters, digits, '.', '_' or '-'."
)
@click.option("--name", "display_name", default="", help="Display name (default: the username).")
@click.option(
    "--role",
    type=click.Choice(["front_desk", "manager", "admin"]),
    default="front_desk",
    show_default=True,
    help="front_desk, manager (kiosks, audit, settings) or admin (also staff accounts).",
)
@click.option("--totp/--no-totp", default=None, help="Two-factor for a front-desk account (always on for the others).")
@click.option("--password-stdin", is_flag=True, help="Read the initial password from the first line of stdin.")
def staff_create(username: str, display_name: str, role: str, totp: bool | None, password_stdin: bool) -> None:
    """Create a panel account. Prints the TOTP secret and otpauth:// URI once, for the authenticator app.

    The initial password (at least 12 characters) is prompted for, or read from
    stdin with --password-stdin; it is never taken from the command line.
    """
    from service.panel.accounts import create_account

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    with command_session() as (_db, ring, session):
        created = create_account(
            session,
            username=username,
            display_name=display_name,
            role=role,
            password=password,
            actor="cli",
            keyring=ring,
            with_totp=totp,
        )
        uri = created.totp_uri()
        name = created.account.username
    click.echo(f"created {role} account {name}")
    if uri is not None:
        click.echo(f"TOTP secret (shown once): {created.totp_secret}")
        click.echo(f"TOTP URI (shown once): {uri}")


def _account_by_username(session: Session, username: str) -> StaffAccount:
    from sqlalchemy import select

    from service.storage.tables import StaffAccount

    found = session.scalars(select(StaffAccount).where(StaffAccount.username == username.strip().lower())).first()
    if found is None:
        raise click.ClickException(f"no staff account named {username}")
    return found


@staff.command("reset-password")
@click.argument("username")
@actor_option
def staff_reset_password(username: str, actor: str) -> None:
    """Reset a forgotten password (or a lost authenticator): prints a temporary password once, and for an
    account with two-factor a new TOTP secret and URI once. The account must choose its own password at the
    next sign-in; all its sessions end at once."""
    from service.panel.accounts import reset_password

    with command_session() as (_db, ring, session):
        reset = reset_password(session, ring, _account_by_username(session, username), actor=actor)
    click.echo(f"temporary password for {reset.username} (shown once): {reset.password}")
    if reset.totp_secret is not None:
        click.echo(f"TOTP secret (shown once): {reset.totp_secret}")
        click.echo(f"TOTP URI (shown once): {reset.totp_uri()}")


@staff.command("sign-out")
@click.argument("username")
@actor_option
def staff_sign_out(username: str, actor: str) -> None:
    """End every panel session of an account, on every device (e.g. a lost or shared computer)."""
    from service.panel.accounts import end_sessions

    with command_session() as (_db, _ring, session):
        end_sessions(session, _account_by_username(session, username), actor=actor)
    click.echo(f"every session of {username.strip().lower()} has ended")
