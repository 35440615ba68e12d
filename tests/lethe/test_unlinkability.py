"""``lethe eval unlinkability``: Gomez-Barrero et al.'s measure, and rotated scores that keep matching."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from lethe.cli import main
from lethe.eval.unlinkability import measure, score_codes


def test_identical_distributions_are_unlinkable_and_separate_ones_fully_linkable() -> None:
    rng = np.random.default_rng(3)
    same = measure(rng.normal(0, 0.09, 20_000), rng.normal(0, 0.09, 20_000))
    assert same.d_sys < 0.02
    apart = measure(rng.normal(0.8, 0.05, 2000), rng.normal(0.1, 0.05, 2000))
    assert apart.d_sys > 0.95
    # Overlapping: in between, and D(s) is 0 wherever non-mated scores are the likelier.
    partly = measure(rng.normal(0.3, 0.1, 5000), rng.normal(0.1, 0.1, 5000))
    assert 0.2 < partly.d_sys < 0.8
    assert (partly.local[partly.grid < 0.15] == 0).all()


def test_one_code_per_stay_keeps_scores_and_one_code_per_template_hides_the_person() -> None:
    rng = np.random.default_rng(4)
    faces = [rng.normal(size=128) for _ in range(40)]
    mated = [(f, f + rng.normal(scale=0.3, size=128)) for f in faces[:20]]
    nonmated = [(faces[i], faces[i + 20]) for i in range(20)]
    preservation, two_codes = score_codes("dlib-resnet-v1", mated + nonmated, draws=10, seed=1)
    assert preservation.max_difference <= 1e-5
    assert preservation.plain[:20].min() > 0.8
    rotated = two_codes.reshape(40, 10)
    # Under codes of their own, a person's two templates score like strangers' (cosine of independent
    # uniform unit vectors in 128 dimensions: mean 0, standard deviation 1/sqrt(128) = 0.088).
    assert abs(rotated[:20].mean()) < 0.03
    assert abs(rotated[:20].std() - 0.088) < 0.02


def test_the_command_is_listed() -> None:
    result = CliRunner().invoke(main, ["eval", "unlinkability", "--help"])
    assert result.exit_code == 0
    assert "Gomez-Barrero" in result.output
