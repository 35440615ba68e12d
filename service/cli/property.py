"""``lethe property``: the property's settings that a command sets (the rest: the panel's Settings)."""

from __future__ import annotations

import click

from service.cli.common import actor_option, command_session


@click.group("property")
def property_group() -> None:
    """The property's settings that a command sets (the rest: the panel's Settings)."""


@property_group.command("liveness")
@click.option(
    "--demo-passive-only/--require-challenge",
    "demo",
    required=True,
    help="--demo-passive-only: passive liveness only, for a demo or try-out with recorded video (which cannot "
    "perform a challenge drawn at random); never for production. --require-challenge: the production policy.",
)
@actor_option
def property_liveness(demo: bool, actor: str) -> None:
    """Set the liveness policy: an active challenge per check-in (the default), or passive only for a demo.

    The change is audited naming the policy (liveness_policy), and every check-in
    session opened under the demo policy is audited with liveness_policy:
    passive-only-demo.
    """
    from service import property as prop

    with command_session() as (_db, _ring, session):
        current = prop.load(session, prop.Liveness)
        prop.save(session, current.model_copy(update={"require_challenge": not demo}), actor=actor)
    click.echo("liveness policy: passive only (demo)" if demo else "liveness policy: an active challenge per check-in")
