"""``lethe eval``: measured accuracy of the kiosk's models on labelled data."""

from __future__ import annotations

import click

from lethe.eval.agreement import agreement
from lethe.eval.liveness import liveness
from lethe.eval.unlinkability import unlinkability
from lethe.eval.verification import calibrate, verification


@click.group("eval")
def evaluate() -> None:
    """Evaluate models on labelled data (liveness, verification accuracy, threshold calibration, agreement,
    unlinkability of rotated templates)."""


evaluate.add_command(agreement)
evaluate.add_command(liveness)
evaluate.add_command(verification)
evaluate.add_command(calibrate)
evaluate.add_command(unlinkability)
