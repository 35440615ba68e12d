"""The property's accent colour, made safe for the guest's screen (WCAG 2.2 contrast).

The page is dark text on a light background; the accent fills the primary
buttons, outlines the face oval and marks the keyboard focus. Any colour a
hotel picks is darkened just enough to stand 3:1 against the background (a
component's contrast, WCAG 1.4.11), and the text on it is black or white,
whichever contrasts more (always at least 4.5:1, WCAG 1.4.3).
"""

from __future__ import annotations

import re

BACKGROUND = "#faf8f4"
DEFAULT_ACCENT = "#0f5f5a"
MIN_COMPONENT_CONTRAST = 3.0
_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def luminance(colour: str) -> float:
    """WCAG relative luminance of a ``#rrggbb`` colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def theme(accent: str | None) -> dict[str, str]:
    """``accent`` (``#rrggbb``; anything else: the default) as the page's colours: ``accent``, ``on-accent``."""
    colour = accent.lower() if accent and _HEX.fullmatch(accent) else DEFAULT_ACCENT
    r, g, b = _rgb(colour)
    step = 0
    while contrast(colour, BACKGROUND) < MIN_COMPONENT_CONTRAST:
        step += 1
        factor = 1 - step / 20
        colour = f"#{round(r * factor):02x}{round(g * factor):02x}{round(b * factor):02x}"
    on_accent = "#000000" if contrast(colour, "#000000") >= contrast(colour, "#ffffff") else "#ffffff"
    return {"accent": colour, "on-accent": on_accent}
