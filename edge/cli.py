"""``lethe kiosk``: the headless kiosk run, and kiosk registration."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import click

from edge.errors import EXIT_STATUS_HELP, ExitStatus


def _settings(**overrides: Any) -> Any:
    from config import ConfigError
    from edge.settings import KioskSettings

    try:
        return KioskSettings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.UsageError(f"configuration: {exc}") from None


def _configure_logging(level: str) -> None:
    """The kiosk's own log lines (steps, error codes and details; never a frame or a template) at ``level``."""
    logging.getLogger("edge").setLevel(level)


def _check_id_options(
    id_image: Path | None, id_from_camera: bool, id_source: str | None, reverify: bool, *, required: bool = False
) -> bool:
    """At most one way to the ID portrait: an image file, or the document held up to a camera.

    Returns whether the run is a re-verification: ``--reverify``, or (unless
    ``required``) no ID source at all.
    """
    has_id = id_image is not None or id_from_camera or bool(id_source)
    if reverify and has_id:
        raise click.UsageError("--reverify compares with the stay's stored template: give no ID")
    if id_image is not None and (id_from_camera or id_source):
        raise click.UsageError("give --id-image, or read the ID from the camera (--id-from-camera/--id-source)")
    if required and not has_id:
        raise click.UsageError("missing --id-image (or --id-from-camera/--id-source)")
    return not has_id


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


@click.group(invoke_without_command=True, epilog=EXIT_STATUS_HELP)
@click.option("--service", "service_url", help="Service base URL [LETHE_KIOSK_SERVICE_URL].")
@click.option("--source", help="Camera index, /dev/videoN, picamera[:N], a video file, an image or an image folder.")
@click.option("--id-image", type=click.Path(path_type=Path), help="The ID portrait (image file).")
@click.option(
    "--id-from-camera",
    is_flag=True,
    help="Instead of --id-image: the guest holds the whole ID document up to the camera (--source); "
    "a face not inside a card-shaped document is refused (no-id-document).",
)
@click.option("--id-source", help="Like --id-from-camera, from this source instead of --source (camera, image, video).")
@click.option(
    "--booking",
    help="The booking code (LETHE2.<reference>.<secret>); without it the booking QR is read from the camera.",
)
@click.option(
    "--booking-from-camera",
    is_flag=True,
    help="Read the booking QR code from the camera (the default when --booking is not given).",
)
@click.option("--booking-source", help="Where to read the booking QR from instead of --source (camera, image, video).")
@click.option("--key-file", type=click.Path(path_type=Path), help="Kiosk identity file [LETHE_KIOSK_KEY_FILE].")
@click.option("--backend", type=click.Choice(["dlib", "onnx"]), help="Face backend [LETHE_KIOSK_BACKEND].")
@click.option("--realtime", is_flag=True, help="Read a video file at its own frame rate, as a camera would deliver it.")
@click.option(
    "--consent-accepted",
    is_flag=True,
    help="The guest has read and accepted the property's current consent notice (e.g. on paper at the desk); "
    "the kiosk records that acceptance of the notice version the service sends. Required for a check-in.",
)
@click.option(
    "--reverify",
    is_flag=True,
    help="The guest is checked in already (e.g. for a new key card): compare the live face with the stay's "
    "stored template of this kiosk's model instead of an ID portrait. The default when no ID is given; "
    "a stay not checked in is refused (stay-not-checked-in).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--check-config", is_flag=True, help="Print the effective settings and exit.")
@click.pass_context
def kiosk(
    ctx: click.Context,
    service_url: str | None,
    source: str | None,
    id_image: Path | None,
    id_from_camera: bool,
    id_source: str | None,
    booking: str | None,
    booking_from_camera: bool,
    booking_source: str | None,
    key_file: Path | None,
    backend: str | None,
    realtime: bool,
    consent_accepted: bool,
    reverify: bool,
    as_json: bool,
    check_config: bool,
) -> None:
    """Check a guest in: open a session, template the ID portrait and the live face, seal, post, print the decision.

    Without an ID (--id-image, --id-from-camera, --id-source) the run is a
    re-verification (--reverify): a guest already checked in comes back, e.g.
    for a new key card, and the service compares the live face with the stay's
    stored template. Consent, liveness, rate limits, lockout and the audit are
    as for a check-in; a stay not checked in is refused before any capture
    (stay-not-checked-in, exit status 4: the guest checks in with the ID).

    The service names an active liveness challenge per session (blink, turn left,
    turn right or none, from the property's liveness policy); the kiosk shows its
    instruction and checks it from landmarks, and sends it with the passive
    liveness score inside the sealed envelope. A recorded video cannot perform a
    challenge it was not recorded for: run those against a property set to the
    try-out policy, passive liveness only (lethe property liveness
    --demo-passive-only, audited as such).

    The service verifies nothing without the guest's recorded consent: this
    headless command has no screen to show the notice on, so it needs
    --consent-accepted (the operator confirms the guest accepted the current
    notice) and records that acceptance before capturing. `lethe kiosk screen`
    asks the guest instead.
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(service_url=service_url, key_file=key_file, backend=backend)
    if check_config:
        click.echo(settings.describe())
        return
    _configure_logging(settings.log_level)
    if not source:
        raise click.UsageError("missing --source")
    reverify = _check_id_options(id_image, id_from_camera, id_source, reverify)
    if not consent_accepted:
        raise click.UsageError("a check-in needs the guest's consent: add --consent-accepted once the guest accepted")
    if booking and (booking_from_camera or booking_source):
        raise click.UsageError("give --booking, or read it from the camera (--booking-from-camera/--booking-source)")
    from edge.errors import EdgeError
    from edge.kiosk import run_checkin

    assert source is not None

    def say(message: str) -> None:
        if message:
            click.echo(f"  > {message}", err=True)

    try:
        outcome = run_checkin(
            settings,
            source=source,
            id_image=id_image,
            id_source=id_source,
            booking=booking,
            booking_source=booking_source,
            realtime=realtime,
            on_guidance=None if as_json else say,
            consent_accepted=consent_accepted,
            reverify=reverify,
        )
    except EdgeError as exc:
        _fail(exc, as_json)
        return
    result = outcome.as_json()
    if as_json:
        click.echo(json.dumps(result))
    else:
        verdict = "ACCEPTED" if result["decision"] == "accepted" else "REJECTED"
        relation = ">=" if result["decision"] == "accepted" else "<"
        what = "Re-verification" if result.get("kind") == "reverify" else "Check-in"
        click.echo(f"{what} {verdict} ({result['reason']})")
        if result.get("score") is None:
            click.echo("  faces not compared")
        else:
            click.echo(
                f"  score {result['score']:.3f} {relation} threshold {result['threshold']:.3f} ({result['model']})"
            )
        if "challenge" in result:
            passed = "passed" if result["challenge_passed"] else "not passed"
            click.echo(
                f"  liveness: passive P(live) {result['passive_score']}, challenge {result['challenge']} {passed}"
            )
        click.echo(
            f"  {result['frames_fused']} frames fused of {result['frames_seen']} read; "
            f"{result['seconds_to_decision']:.1f} s to decision"
        )
    sys.exit(ExitStatus.ACCEPTED if result["decision"] == "accepted" else ExitStatus.REJECTED)


@kiosk.command()
@click.option("--service", "service_url", required=True, help="Service base URL.")
@click.option("--code", required=True, help="The one-time enrolment code from the service's operator.")
@click.option("--key-file", type=click.Path(path_type=Path), help="Where to keep the identity [LETHE_KIOSK_KEY_FILE].")
@click.option("--force", is_flag=True, help="Replace an existing identity (revoke the old kiosk at the service).")
def register(service_url: str, code: str, key_file: Path | None, force: bool) -> None:
    """Generate this kiosk's Ed25519 key, register it with an enrolment code, and keep it in a 0600 file.

    An existing identity is never replaced without --force (checked before the enrolment code is used).
    """
    from edge.client import ServiceClient
    from edge.errors import EdgeError
    from edge.identity import KioskIdentity, load_identity, save_identity
    from protocol import SigningKey

    settings = _settings(service_url=service_url, key_file=key_file)
    if settings.key_file.exists() and not force:
        try:
            old = f"kiosk {load_identity(settings.key_file).kiosk_id}"
        except EdgeError:
            old = "an identity"
        raise click.UsageError(
            f"{settings.key_file} already holds {old}; registering again would replace it. "
            "Pass --force to do so (then revoke the old kiosk: lethe device revoke ID --reason ...)"
        )
    key = SigningKey.generate()
    client = ServiceClient.from_settings(settings)
    try:
        kiosk_id = client.register(code, key)
    except EdgeError as exc:
        _fail(exc, False)
        return
    finally:
        client.close()
    save_identity(settings.key_file, KioskIdentity(kiosk_id, key, settings.service_url))
    click.echo(f"registered kiosk {kiosk_id}; identity in {settings.key_file}")


@kiosk.command(epilog=EXIT_STATUS_HELP)
@click.option("--source", required=True, help="Camera index, /dev/videoN, picamera[:N], a video file or images.")
@click.option("--id-image", type=click.Path(path_type=Path), help="The ID portrait (image file).")
@click.option(
    "--id-from-camera", is_flag=True, help="Instead of --id-image: the guest holds the ID document up to the camera."
)
@click.option("--id-source", help="Like --id-from-camera, from this source instead of --source.")
@click.option("--booking-source", help="Where to read the booking QR from instead of --source.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port on 127.0.0.1.")
@click.option(
    "--result-seconds", type=click.FloatRange(0, 600), default=15.0, show_default=True, help="Result shown this long."
)
@click.option(
    "--retry-for",
    "retry_for_s",
    type=click.FloatRange(0),
    help="A kiosk that cannot work shows 'out of order' and retries this many seconds, then exits with the "
    "error's status [default: retry until it works].",
)
@click.option(
    "--mode",
    type=click.Choice(["check-in", "check-out"]),
    default="check-in",
    show_default=True,
    help="The flow the attract screen starts in (the guest can switch; check-out for an express-checkout kiosk).",
)
@click.option("--key-file", type=click.Path(path_type=Path), help="Kiosk identity file [LETHE_KIOSK_KEY_FILE].")
@click.option("--realtime", is_flag=True, help="Read a video file at its own frame rate.")
def screen(
    source: str,
    id_image: Path | None,
    id_from_camera: bool,
    id_source: str | None,
    booking_source: str | None,
    port: int,
    result_seconds: float,
    retry_for_s: float | None,
    mode: str,
    key_file: Path | None,
    realtime: bool,
) -> None:
    """Serve the guest's screen on http://127.0.0.1:PORT/ and serve one guest through it.

    Open the page in a browser in kiosk mode. The kiosk first loads its key
    and models, tells the service it is ready and opens the camera; if any of
    that fails it shows "out of order, please see the front desk", logs why
    and retries with backoff (LETHE_KIOSK_RETRY_INITIAL_S, _RETRY_MAX_S). Then
    the attract screen waits for the booking QR; after it the guest chooses
    "Check in" or "I'm already checked in — new key card" (a returning guest:
    consent and the face against the stay's stored template, no ID step; a
    booking not yet checked in is offered the check-in). To check in, the guest reads
    and accepts the property's consent notice (or chooses the front desk),
    shows the ID document (with --id-from-camera) and looks at the camera; the
    answer is recorded at the service before any capture, and a refusal (or no
    answer within 120 s) closes the session there. To check out ("Check out" on
    the attract screen), the guest confirms and gets a QR code that opens the
    signed deletion receipt on their phone.
    """
    from edge.screen import GuestScreen, create_screen_app, run_guest, serve

    _check_id_options(id_image, id_from_camera, id_source, reverify=False, required=True)
    settings = _settings(key_file=key_file)
    _configure_logging(settings.log_level)
    guest = GuestScreen(mode=mode)
    server = serve(create_screen_app(guest), port)
    click.echo(f"guest screen on http://127.0.0.1:{server.server_port}/", err=True)
    try:
        status = run_guest(
            guest,
            settings,
            source=source,
            id_image=id_image,
            id_source=id_source,
            booking_source=booking_source,
            realtime=realtime,
            retry_for_s=retry_for_s,
        )
        final = guest.state()
        error = f" ({final['error']})" if final.get("error") else ""
        click.echo(f"result: {final['screen']}{error}")
        time.sleep(result_seconds)
    finally:
        guest.close()
        server.shutdown()
    sys.exit(status)
