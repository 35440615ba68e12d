"""A score beside the threshold it was compared with, each with as many decimals as the comparison needs."""

from __future__ import annotations

MIN_DECIMALS = 3
MAX_DECIMALS = 6


def decimals(value: float) -> int:
    """The decimals ``value`` has (at least 3, at most 6): 0.9256 has 4, 0.95 is shown as 0.950."""
    text = f"{value:.{MAX_DECIMALS}f}".rstrip("0")
    return max(MIN_DECIMALS, len(text.partition(".")[2]))


def score_and_threshold(score: float | None, threshold: float | None) -> tuple[str, str]:
    """Both numbers as text with one number of decimals: the threshold's own (0.9256 stays 0.9256, not 0.926),
    more while the rounded score would look equal to the threshold it differs from ("—" for a missing one)."""
    if score is None or threshold is None:
        one = f"{score:.{MIN_DECIMALS}f}" if score is not None else "—"
        other = f"{threshold:.{decimals(threshold)}f}" if threshold is not None else "—"
        return one, other
    places = decimals(threshold)
    while places < MAX_DECIMALS and score != threshold and round(score, places) == round(threshold, places):
        places += 1
    return f"{score:.{places}f}", f"{threshold:.{places}f}"
