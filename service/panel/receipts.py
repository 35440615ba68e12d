"""The deletion receipt as a QR code the guest can scan and keep (SVG, drawn by ``qrcode``)."""

from __future__ import annotations

import json
from typing import Any

import qrcode
from qrcode.image.svg import SvgPathImage


def qr_svg(receipt: dict[str, Any]) -> str:
    """An inline SVG QR code holding the receipt's compact JSON (verifiable offline with ``lethe receipt verify``)."""
    payload = json.dumps({"receipt": receipt}, separators=(",", ":"), sort_keys=True)
    image = qrcode.make(payload, image_factory=SvgPathImage, error_correction=qrcode.constants.ERROR_CORRECT_L)
    svg: str = image.to_string(encoding="unicode")
    return svg.split("?>", 1)[1] if svg.startswith("<?xml") else svg
