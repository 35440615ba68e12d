"""``lethe staff``: panel accounts from the command line (bootstraps the first admin)."""

from __future__ import annotations

import sys

import click

from service.cli.common import command_session


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
