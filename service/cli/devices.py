"""``lethe device`` (enrolment codes and the kiosk lifecycle) and ``lethe integration`` (PMS API keys).

Every command that changes a kiosk or revokes an integration takes ``--reason`` and ``--actor`` and runs in one
transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from service.cli.common import (
    actor_option,
    command_session,
    echo_json,
    reason_option,
    service_database,
)


@click.group()
def device() -> None:
    """Kiosk devices."""


@device.command("code")
@click.option("--name", required=True, help="Name of the kiosk that will use the code, e.g. 'Lobby 1'.")
def device_code(name: str) -> None:
    """Create a one-time enrolment code (shown once) for a kiosk to register with."""
    import datetime as dt

    from service.checkin.kiosks import create_enrolment_code

    with service_database() as (settings, database, _ring), database.transaction() as session:
        issued = create_enrolment_code(
            session, kiosk_name=name, ttl_s=settings.enrolment_code_ttl_s, actor="cli", now=dt.datetime.now(dt.UTC)
        )
    click.echo(f"{issued.code}  (expires {issued.expires_at.isoformat(timespec='seconds')})")


@device.command("list")
@click.option("--status", type=click.Choice(["active", "suspended", "revoked"]), help="Only kiosks in this state.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def device_list(status: str | None, as_json: bool) -> None:
    """List registered kiosks: id, name, status, key id, last seen, last reported state and error code."""
    from service.checkin.kiosks import list_kiosks

    with command_session() as (_db, _ring, session):
        found = list_kiosks(session, status=status)
    if as_json:
        echo_json([k.as_json() for k in found])
        return
    for k in found:
        seen = k.last_seen_at.isoformat(timespec="seconds") if k.last_seen_at else "never"
        error = f" (last error {k.last_error})" if k.last_error else ""
        state = f"{k.state or 'no report'}{error}"
        click.echo(f"{k.id}  {k.status:<9}  key {k.key_id}  last seen {seen}  {state}  {k.name}")


def _device_action(name: str, doc: str, call: Callable[..., Any]) -> None:
    @device.command(name, help=doc)
    @click.argument("kiosk_id")
    @reason_option
    @actor_option
    def command(kiosk_id: str, reason: str, actor: str) -> None:
        with command_session() as (_db, _ring, session):
            info = call(session, kiosk_id, actor=actor, reason=reason)
        click.echo(f"kiosk {info.id} is now {info.status}")


def _register_device_actions() -> None:
    from service.checkin import kiosks

    _device_action(
        "suspend", "Suspend a kiosk: its requests are refused (kiosk-suspended) until resumed.", kiosks.suspend_kiosk
    )
    _device_action("resume", "Resume a suspended kiosk.", kiosks.resume_kiosk)
    _device_action("revoke", "Revoke a kiosk for good (kiosk-revoked); it must register again.", kiosks.revoke_kiosk)


_register_device_actions()


@click.group()
def integration() -> None:
    """PMS integrations."""


@integration.command("create")
@click.argument("name")
def integration_create(name: str) -> None:
    """Create a PMS integration and print its API key (shown once)."""
    from service.stays.integrations import create_integration

    with command_session() as (_db, _ring, session):
        key = create_integration(session, name=name, actor="cli")
    click.echo(key)


@integration.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def integration_list(as_json: bool) -> None:
    """List PMS integrations: name, created, and when revoked (keys are never shown again)."""
    from service.stays.integrations import list_integrations

    with command_session() as (_db, _ring, session):
        rows = [
            {
                "name": i.name,
                "created_at": i.created_at.isoformat(timespec="seconds"),
                "revoked_at": None if i.revoked_at is None else i.revoked_at.isoformat(timespec="seconds"),
            }
            for i in list_integrations(session)
        ]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        click.echo(f"{row['name']}  created {row['created_at']}  {state}")


@integration.command("revoke")
@click.argument("name")
@reason_option
@actor_option
def integration_revoke(name: str, reason: str, actor: str) -> None:
    """Revoke a PMS integration's API key for good (a leaked or retired key); its next request is refused (401).

    To replace a key, create a new integration under another name, switch the PMS to it, then revoke the old one.
    """
    import datetime as dt

    from service.stays.integrations import revoke_integration

    with command_session() as (_db, _ring, session):
        revoke_integration(session, name=name, actor=actor, reason=reason, now=dt.datetime.now(dt.UTC))
    click.echo(f"integration {name} revoked")


@integration.group("webhook")
def webhook() -> None:
    """Signed event deliveries to the hotel's systems (Standard Webhooks; docs/api.md lists the events)."""


@webhook.command("add")
@click.argument("url")
def webhook_add(url: str) -> None:
    """Register URL for every event; print its id and its signing secret (whsec_..., shown once)."""
    from service.webhooks import add_endpoint

    with command_session() as (_db, ring, session):
        added = add_endpoint(session, ring, url, actor="cli")
    click.echo(f"webhook {added.id}: {added.url}")
    click.echo(added.secret)


@webhook.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def webhook_list(as_json: bool) -> None:
    """Registered endpoints with their last delivery status and pending, delivered and failed events."""
    from service.webhooks import list_endpoints

    with command_session() as (_db, _ring, session):
        found = [e.as_json() for e in list_endpoints(session)]
    if as_json:
        echo_json(found)
        return
    for e in found:
        click.echo(
            f"{e['id']}  {e['url']}  last {e['last_status'] or '-'}  "
            f"pending {e['pending']}, delivered {e['delivered']}, failed {e['failed']}"
        )


@webhook.command("remove")
@click.argument("endpoint_id", type=int)
def webhook_remove(endpoint_id: int) -> None:
    """Stop sending to an endpoint (its undelivered events are dropped)."""
    import datetime as dt

    from service.webhooks import remove_endpoint

    with command_session() as (_db, _ring, session):
        remove_endpoint(session, endpoint_id, actor="cli", now=dt.datetime.now(dt.UTC))
    click.echo(f"webhook {endpoint_id} removed")
