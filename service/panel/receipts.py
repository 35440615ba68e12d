"""The deletion receipt as a QR code the guest can scan and keep (inline SVG, drawn by ``segno``)."""

from __future__ import annotations

import json
from typing import Any

import segno


def qr_svg(receipt: dict[str, Any]) -> str:
    """An inline SVG QR code holding the receipt's compact JSON (verifiable offline with ``lethe receipt verify``).

    Error correction at least L (the JSON is long; the code is read from a screen or fresh paper),
    sized by its ``viewBox`` so the page's stylesheet sets its size.
    """
    payload = json.dumps({"receipt": receipt}, separators=(",", ":"), sort_keys=True)
    svg: str = segno.make(payload, error="l", micro=False).svg_inline(omitsize=True)
    return svg
