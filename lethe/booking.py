"""``lethe booking``: make a booking code outside the service (PMS side), and render one as a QR code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click


def render_qr(code: str, kind: str, *, scale: int = 8) -> bytes:
    """The QR code of ``code`` as PNG or SVG bytes (segno; error correction M, 4-module quiet zone)."""
    from service.stays.booking_qr import qr_png, qr_svg

    return qr_png(code, scale=scale) if kind == "png" else qr_svg(code, scale=scale).encode()


@click.group()
def booking() -> None:
    """Booking codes: the QR code a guest brings to the kiosk."""


@booking.command("new")
@click.argument("reference")
def new(reference: str) -> None:
    """Make a booking code for REFERENCE (6-16 of A-Z0-9) on the PMS side.

    Prints one JSON object: ``booking_code`` (for the guest's QR; keep it away
    from the service) and ``stay_secret_fingerprint`` (send it with the
    reservation to ``POST /pms/v1/reservations``, with the same reference).
    The service then never sees the master secret, so it can never compute the
    guest's transform key.
    """
    from protocol import BookingCode, InvalidBookingCode, new_master_secret

    try:
        code = BookingCode(reference, new_master_secret())
    except InvalidBookingCode as exc:
        raise click.BadParameter(str(exc), param_hint="REFERENCE") from None
    click.echo(
        json.dumps(
            {"reference": code.reference, "booking_code": str(code), "stay_secret_fingerprint": code.fingerprint}
        )
    )


@booking.command("qr")
@click.argument("code")
@click.option("--format", "kind", type=click.Choice(["png", "svg"]), default="png", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="File to write.")
@click.option("--scale", type=click.IntRange(1, 40), default=8, show_default=True, help="Pixels per module.")
def qr(code: str, kind: str, out: Path, scale: int) -> None:
    """Render booking CODE (LETHE2.<reference>.<master secret>) as a QR code image.

    The code is checked first. It holds the stay secret, so the file is
    created readable by its owner only (0600); send it to the guest and delete it.
    """
    from protocol import InvalidBookingCode, parse_booking_code

    try:
        parse_booking_code(code)
    except InvalidBookingCode as exc:
        raise click.BadParameter(str(exc), param_hint="CODE") from None
    data = render_qr(code, kind, scale=scale)
    out.unlink(missing_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    click.echo(f"wrote {out} ({kind}, {len(data)} bytes)")
