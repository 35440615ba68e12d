"""The deletion receipt as a QR code the guest scans with a phone: a link to the receipt page (SVG, by segno)."""

from __future__ import annotations

import io
from typing import Any

import segno

from protocol import receipt_fragment


def receipt_link(page_url: str, receipt: dict[str, Any]) -> str:
    """The receipt page's address with the receipt in its fragment (never sent to the server by a browser)."""
    return f"{page_url}#{receipt_fragment(receipt)}"


def qr_svg(link: str) -> str:
    """An inline SVG QR code of ``link`` that scales to its box."""
    out = io.BytesIO()
    segno.make(link, error="l").save(out, kind="svg", xmldecl=False, svgns=True, omitsize=True, border=4)
    return out.getvalue().decode()
