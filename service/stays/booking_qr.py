"""The booking QR a guest brings to the kiosk: as SVG, as PNG and as an HTML snippet for the confirmation email.

The QR holds the booking code, which holds the stay secret: whatever is made
from it is as sensitive as the code and is handed out once.
"""

from __future__ import annotations

import base64
import html
import io

import segno

SCALE = 6  #: pixels per module in the PNG: a booking code (a version-3 QR) with its quiet zone is 222 px
BORDER = 4  #: the quiet zone the QR standard asks for, in modules
EMAIL_CID = "lethe-booking-qr"  #: the Content-ID the email snippet expects the PNG attached under


def _code(booking_code: str) -> segno.QRCode:
    return segno.make(booking_code, error="m", micro=False)


def qr_png(booking_code: str, *, scale: int = SCALE) -> bytes:
    """The booking QR as a PNG (error correction M, 4-module quiet zone)."""
    out = io.BytesIO()
    _code(booking_code).save(out, kind="png", scale=scale, border=BORDER)
    return out.getvalue()


def qr_svg(booking_code: str, *, scale: int = SCALE) -> str:
    """The booking QR as a standalone SVG document (no XML declaration, so it can also be inlined in HTML)."""
    out = io.BytesIO()
    _code(booking_code).save(out, kind="svg", scale=scale, border=BORDER, xmldecl=False, svgns=True)
    return out.getvalue().decode()


def email_html(reference: str, booking_code: str) -> str:
    """An ``<img>`` for the HTML confirmation email; the PNG is attached inline with Content-ID ``EMAIL_CID``.

    An inline attachment (``cid:``) rather than a ``data:`` URL because common
    webmail clients drop ``data:`` images.
    """
    size = _code(booking_code).symbol_size(scale=SCALE, border=BORDER)[0]
    alt = html.escape(f"Check-in QR code for booking {reference}")
    return f'<img src="cid:{EMAIL_CID}" width="{size}" height="{size}" alt="{alt}" style="display:block">'


def qr_json(reference: str, booking_code: str) -> dict[str, str]:
    """The booking QR for a creation answer: ``svg``, ``png_base64``, ``email_html`` and ``email_cid``."""
    return {
        "svg": qr_svg(booking_code),
        "png_base64": base64.b64encode(qr_png(booking_code)).decode("ascii"),
        "email_html": email_html(reference, booking_code),
        "email_cid": EMAIL_CID,
    }


def card_svg(*, guest_name: str, reference: str, arrival: str, departure: str, booking_code: str) -> str:
    """A printable card (85 x 55 mm, a business card's size): the booking QR, the guest's name, booking and dates."""
    scale = 10
    size = _code(booking_code).symbol_size(scale=scale, border=BORDER)[0]
    qr = qr_svg(booking_code, scale=scale).replace("<svg ", f'<svg x="20" y="{(550 - size) // 2}" ', 1)
    left = 40 + size
    lines = [
        ('font-size="40" font-weight="700"', html.escape(guest_name)),
        ('font-size="30"', html.escape(f"Booking {reference}")),
        ('font-size="30"', html.escape(f"{arrival} → {departure}")),
        ('font-size="24" fill="#444"', "Show this code at the check-in kiosk."),
        ('font-size="24" fill="#444"', "Keep it private: it opens your check-in."),
    ]
    text = "".join(
        f'<text x="{left}" y="{110 + 80 * i}" {style}>{content}</text>' for i, (style, content) in enumerate(lines)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="85mm" height="55mm" viewBox="0 0 850 550" '
        'font-family="system-ui, sans-serif">'
        f'<rect width="850" height="550" fill="#fff" stroke="#888" stroke-width="2"/>{qr}{text}</svg>\n'
    )


def cards_index(references: list[str]) -> str:
    """An HTML page that prints every card of a folder, eight to an A4 page."""
    images = "".join(f'<img src="{html.escape(r)}.svg" alt="{html.escape(r)}">' for r in references)
    return (
        '<!doctype html><meta charset="utf-8"><title>Booking QR cards</title>'
        "<style>@page{size:A4;margin:10mm}body{margin:0;display:grid;grid-template-columns:85mm 85mm;"
        "gap:6mm;justify-content:center}img{width:85mm;height:55mm;break-inside:avoid}</style>"
        f"{images}\n"
    )
