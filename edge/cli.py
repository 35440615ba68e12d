"""``lethe kiosk``: the headless kiosk run, and kiosk registration."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

EXIT_ACCEPTED, EXIT_REJECTED, EXIT_KIOSK_ERROR = 0, 1, 3


def _settings(**overrides: Any) -> Any:
    from edge.settings import KioskSettings
    from lethe.config import ConfigError

    try:
        return KioskSettings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.UsageError(f"configuration: {exc}") from None


def _fail(exc: Any, as_json: bool) -> None:
    problem = {"code": exc.code, "detail": exc.detail, "guidance": exc.guidance}
    if getattr(exc, "retryable", False):
        problem["retryable"] = True
    if as_json:
        click.echo(json.dumps({"error": problem}))
    else:
        click.echo(f"error [{exc.code}]: {exc.detail}", err=True)
        if exc.guidance:
            click.echo(f"  {exc.guidance}", err=True)
    sys.exit(exc.exit_status)


@click.group(invoke_without_command=True)
@click.option("--service", "service_url", help="Service base URL [LETHE_KIOSK_SERVICE_URL].")
@click.option("--source", help="Camera index, /dev/videoN, a video file, an image or an image folder.")
@click.option("--id-image", type=click.Path(path_type=Path), help="The ID portrait (image file).")
@click.option("--booking", help="The booking code from the booking QR (LETHE1.<reference>.<secret>).")
@click.option("--key-file", type=click.Path(path_type=Path), help="Kiosk identity file [LETHE_KIOSK_KEY_FILE].")
@click.option("--realtime", is_flag=True, help="Read a video file at its own frame rate, as a camera would deliver it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--check-config", is_flag=True, help="Print the effective settings and exit.")
@click.pass_context
def kiosk(
    ctx: click.Context,
    service_url: str | None,
    source: str | None,
    id_image: Path | None,
    booking: str | None,
    key_file: Path | None,
    realtime: bool,
    as_json: bool,
    check_config: bool,
) -> None:
    """Check a guest in: open a session, template the ID portrait and the live face, seal, post, print the decision.

    Exit status: 0 accepted, 1 rejected, 3 kiosk-side error (e.g. no face in the
    ID image), 4 service error (its problem code is printed), 2 usage.
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(service_url=service_url, key_file=key_file)
    if check_config:
        click.echo(settings.describe())
        return
    missing = [
        name for name, value in (("--source", source), ("--id-image", id_image), ("--booking", booking)) if not value
    ]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)}")
    from edge.errors import EdgeError
    from edge.kiosk import run_checkin

    assert source is not None
    assert id_image is not None
    assert booking is not None
    try:
        outcome = run_checkin(settings, source=source, id_image=id_image, booking=booking, realtime=realtime)
    except EdgeError as exc:
        _fail(exc, as_json)
        return
    result = outcome.as_json()
    if as_json:
        click.echo(json.dumps(result))
    else:
        verdict = "ACCEPTED" if result["decision"] == "accepted" else "REJECTED"
        relation = ">=" if result["decision"] == "accepted" else "<"
        click.echo(f"Check-in {verdict} ({result['reason']})")
        click.echo(f"  score {result['score']:.3f} {relation} threshold {result['threshold']:.3f} ({result['model']})")
        click.echo(
            f"  {result['frames_fused']} frames fused of {result['frames_seen']} read; "
            f"{result['seconds_to_decision']:.1f} s to decision"
        )
    sys.exit(EXIT_ACCEPTED if result["decision"] == "accepted" else EXIT_REJECTED)


@kiosk.command()
@click.option("--service", "service_url", required=True, help="Service base URL.")
@click.option("--code", required=True, help="The one-time enrolment code from the service's operator.")
@click.option("--key-file", type=click.Path(path_type=Path), help="Where to keep the identity [LETHE_KIOSK_KEY_FILE].")
def register(service_url: str, code: str, key_file: Path | None) -> None:
    """Generate this kiosk's Ed25519 key, register it with an enrolment code, and keep it in a 0600 file."""
    from edge.client import ServiceClient
    from edge.errors import EdgeError
    from edge.identity import KioskIdentity, save_identity
    from protocol import SigningKey

    settings = _settings(service_url=service_url, key_file=key_file)
    key = SigningKey.generate()
    client = ServiceClient(settings.service_url, timeout_s=settings.http_timeout_s)
    try:
        kiosk_id = client.register(code, key)
    except EdgeError as exc:
        _fail(exc, False)
        return
    finally:
        client.close()
    save_identity(settings.key_file, KioskIdentity(kiosk_id, key, settings.service_url))
    click.echo(f"registered kiosk {kiosk_id}; identity in {settings.key_file}")
