"""``lethe eval unlinkability``: can the service link a guest's templates across stays? And is matching unchanged?

Unlinkability is measured with the framework of Gomez-Barrero et al., "General
Framework to Evaluate Unlinkability in Biometric Template Protection Systems"
(IEEE TIFS 13(6), 2018). Mated pairs are the same person's templates under two
different booking codes, non-mated pairs different people's templates under
different codes; an attacker scores each pair by cosine similarity. With
``p(s|Hm)`` and ``p(s|Hnm)`` the two score densities (Gaussian KDE) and ``ω``
the prior ratio ``p(Hm)/p(Hnm)``, the local measure is

    D↔(s) = 2·ω·LR(s) / (1 + ω·LR(s)) − 1  where ω·LR(s) > 1, else 0,   LR(s) = p(s|Hm) / p(s|Hnm)

and the global measure ``D↔sys = ∫ D↔(s) p(s|Hm) ds`` runs from 0 (fully
unlinkable) to 1 (fully linkable). Plain templates (what a service that logs
what it matches saw before rotation) are compared with rotated ones, each
template rotated by the matrix of its own booking code.

The same command checks performance preservation: each LFW pair is scored as a
stay would score it (both templates rotated by one code's matrix) and compared
with the plain score; accuracy, EER and thresholds are computed from both.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import numpy.typing as npt

from lethe.eval.verification import _backend, _default_images, _label, _load, _pct, backend_options

Scores = npt.NDArray[np.float64]
DEFAULT_DRAWS = 10
DEFAULT_SEED = 18


@dataclass(frozen=True)
class Unlinkability:
    """The two score densities on a grid, the local measure on it, and the global measure."""

    grid: Scores
    mated_density: Scores
    nonmated_density: Scores
    local: Scores
    d_sys: float
    mated: int
    nonmated: int


def measure(mated: Scores, nonmated: Scores, *, omega: float = 1.0, bins: int | None = None) -> Unlinkability:
    """Gomez-Barrero et al.'s D↔(s) and D↔sys from mated and non-mated scores.

    The densities are Gaussian KDEs (Scott's bandwidth) evaluated at ``bins``
    points spanning the scores (default ``min(len(mated) / 10, 100)``, as the
    authors' reference code), each normalised to integrate to 1 on that grid.
    """
    from scipy.stats import gaussian_kde

    bins = bins or int(min(len(mated) / 10, 100))
    low, high = float(min(mated.min(), nonmated.min())), float(max(mated.max(), nonmated.max()))
    grid = np.linspace(low, high, bins)
    p_m = gaussian_kde(mated)(grid)
    p_nm = gaussian_kde(nonmated)(grid)
    p_m /= np.trapezoid(p_m, grid)
    p_nm /= np.trapezoid(p_nm, grid)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = omega * p_m / p_nm
        local = np.where(ratio > 1, 1 - 2 / (1 + ratio), 0.0)  # = 2·r/(1 + r) − 1, and 1 where r is infinite
    local[p_nm == 0] = 1.0
    d_sys = float(np.trapezoid(local * p_m, grid))
    return Unlinkability(grid, p_m, p_nm, local, d_sys, len(mated), len(nonmated))


def code_key(seed: int, *parts: int) -> bytes:
    """A 32-byte transform key standing for one booking code; fixed by ``seed`` and the indices, so runs repeat."""
    return hashlib.sha256(("lethe-eval-unlinkability/" + "/".join(map(str, (seed, *parts)))).encode()).digest()


@dataclass(frozen=True)
class Preservation:
    """Plain against rotated scores of the same pairs, each pair rotated by one code's matrix (as in a stay)."""

    plain: Scores
    rotated: Scores

    @property
    def max_difference(self) -> float:
        return float(np.abs(self.plain - self.rotated).max())


def _template(model_id: str, vector: npt.NDArray[Any]) -> Any:
    from protocol import Template

    return Template.from_embedding(model_id, vector)


def score_codes(
    model_id: str, pairs: list[tuple[npt.NDArray[Any], npt.NDArray[Any]]], *, draws: int, seed: int
) -> tuple[Preservation, Scores]:
    """For every pair: its plain score and its score with both sides rotated by one code (preservation), and
    ``draws`` scores with each side rotated by a code of its own (unlinkability)."""
    from protocol import rotate

    plain, same_code, two_codes = [], [], []
    for i, (a, b) in enumerate(pairs):
        ta, tb = _template(model_id, a), _template(model_id, b)
        plain.append(float(ta.vector @ tb.vector))
        ra, rb = rotate(code_key(seed, i), ta, tb)
        same_code.append(float(ra.vector @ rb.vector))
        for draw in range(draws):
            (xa,) = rotate(code_key(seed, i, draw, 0), ta)
            (xb,) = rotate(code_key(seed, i, draw, 1), tb)
            two_codes.append(float(xa.vector @ xb.vector))
    return Preservation(np.array(plain), np.array(same_code)), np.array(two_codes)


def plot(results: dict[str, Unlinkability], path: Path, *, title: str) -> None:
    """Mated and non-mated score densities with D↔(s), one panel per setting, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4.2))
    for ax, (name, result) in zip(np.atleast_1d(axes), results.items(), strict=True):
        ax.fill_between(result.grid, result.mated_density, alpha=0.45, color="tab:green", label="mated")
        ax.fill_between(result.grid, result.nonmated_density, alpha=0.45, color="tab:red", label="non-mated")
        ax.set(xlabel="cosine score", ylabel="density")
        local = ax.twinx()
        local.plot(result.grid, result.local, color="black", linewidth=1, label="D↔(s)")
        local.set(ylim=(0, 1.05), ylabel="D↔(s)")
        ax.set_title(f"{name}: D↔sys = {result.d_sys:.3f}")
        ax.legend(loc="upper left", fontsize=8)
        local.legend(loc="upper right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


@click.command()
@click.option("--pairs", "pairs_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path))
@backend_options
@click.option(
    "--draws",
    type=click.IntRange(1, 100),
    default=DEFAULT_DRAWS,
    show_default=True,
    help="Pairs of booking codes drawn per LFW pair for the rotated scores.",
)
@click.option("--seed", type=click.IntRange(0), default=DEFAULT_SEED, show_default=True, help="Seed of the codes.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the densities here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def unlinkability(
    pairs_file: Path | None,
    images: Path | None,
    backend: str,
    embedder: str | None,
    threads: int,
    upsample: int,
    no_face: str,
    cache: Path | None,
    draws: int,
    seed: int,
    plot_path: Path | None,
    as_json: bool,
) -> None:
    """Unlinkability of plain and rotated templates (Gomez-Barrero et al. 2018), and the cost to matching.

    Mated pairs are LFW's same-person pairs, non-mated its different-person
    pairs (default: the mirror's testdata/lfw). Plain: the cosine of the two
    templates, what a service saw before rotation. Rotated: each template under
    a booking code of its own (DRAWS code pairs per LFW pair). Prints D↔sys for
    both (0 = unlinkable, 1 = fully linkable); the largest score change when a
    stay's two templates share one code's rotation; and accuracy, EER and the
    FAR thresholds from plain and from rotated scores.
    """
    from lethe.eval.scoring import EmbeddingStore, ScoredPairs, evaluate, score_pairs

    images = images or _default_images()
    pairs_file = pairs_file or images.parent / "pairs.txt"
    pairset = _load(pairs_file, images)
    embedder_ = _backend(backend, embedder, threads)
    store = EmbeddingStore(embedder_, upsample=upsample, cache=cache, progress=sys.stderr, no_face=no_face)
    scored = score_pairs(pairset, store)
    vectors = [(store.get(pairset.images / p.a), store.get(pairset.images / p.b)) for p in pairset.pairs]
    usable = [i for i, (a, b) in enumerate(vectors) if a is not None and b is not None]
    kept = [(vectors[i][0], vectors[i][1]) for i in usable]
    preservation, two_codes = score_codes(embedder_.model_id, kept, draws=draws, seed=seed)  # type: ignore[arg-type]
    same = scored.same[usable]
    mated_rotated = two_codes.reshape(len(kept), draws)[same].ravel()
    nonmated_rotated = two_codes.reshape(len(kept), draws)[~same].ravel()
    results = {
        "plain": measure(preservation.plain[same], preservation.plain[~same]),
        "rotated": measure(mated_rotated, nonmated_rotated),
    }
    reports = {}
    for name, scores in (("plain", preservation.plain), ("rotated", preservation.rotated)):
        scored_name = ScoredPairs(scores, same, scored.folds[usable], 0, 0)
        reports[name] = evaluate(embedder_.model_id, [_label(pairs_file)], scored_name, no_face=no_face)
    if plot_path is not None:
        plot(results, plot_path, title=f"{embedder_.model_id} on {_label(pairs_file)}: scores under different codes")
    summary = {
        "model": embedder_.model_id,
        "data": _label(pairs_file),
        "draws": draws,
        "seed": seed,
        "d_sys": {name: round(r.d_sys, 4) for name, r in results.items()},
        "pairs": {name: {"mated": r.mated, "nonmated": r.nonmated} for name, r in results.items()},
        "max_score_difference": preservation.max_difference,
        "verification": {
            name: {
                k: v for k, v in r.as_json().items() if k in ("accuracy", "eer", "eer_threshold", "threshold_at_far")
            }
            for name, r in reports.items()
        },
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(f"{summary['model']} on {summary['data']}, {len(kept)} pairs, {draws} code pairs each for rotated:")
    for name, r in results.items():
        click.echo(f"  D↔sys {name:8s} {r.d_sys:.4f}  ({r.mated} mated, {r.nonmated} non-mated scores)")
    click.echo(f"  largest |score change| with one code per stay: {preservation.max_difference:.2e}")
    for name, report in reports.items():
        click.echo(
            f"  {name:8s} accuracy {_pct(report.accuracy)}, EER {_pct(report.eer)} at {report.eer_threshold:.4f}, "
            + ", ".join(f"threshold at FAR {far:g} {t:.4f}" for far, (_, t) in report.tar.items())
        )
    if plot_path is not None:
        click.echo(f"  densities: {plot_path}")
