"""Thresholds for target false-match rates, calibrated on identities and cross-validated on others.

The calibration set is a folder of images with one subfolder per identity
(LFW's layout, ``Name/Name_0001.jpg``). Every same-identity pair is a genuine
comparison; the different-identity pairs (millions of them in LFW folds 1-5)
are sampled uniformly without replacement, deterministically from a seed. The
threshold for a target FMR is the lowest at which at most target·N of the N
impostor scores match, and is refused when N < 30/target (the "rule of 30":
fewer than 30 expected false matches cannot place it).

What a hotel can expect on guests the calibration never saw is measured by
k-fold cross-validation by identity: each fold's identities are compared at
the threshold calibrated on the other folds' identities alone, and the errors
of the k test folds are pooled. Rates carry 95% Clopper-Pearson intervals,
and the pooled ones also a bootstrap over people, since comparisons that share
a person are not independent. As in ISO/IEC 19795-1, an image that cannot be
templated is a failure to enrol, counted apart and left out of the comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

if TYPE_CHECKING:
    from lethe.eval.scoring import EmbeddingStore

Indices = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float64]
RULE_OF_30 = 30
CONFIDENCE = 0.95
DEFAULT_IMPOSTOR_PAIRS = 1_000_000
DEFAULT_FOLDS = 5
DEFAULT_SEED = 19795
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
_CHUNK = 1 << 16


class CalibrationError(ValueError):
    """The images cannot support the calibration asked of them (too few identities, pairs or impostors)."""


@dataclass(frozen=True)
class IdentitySet:
    """Images labelled by identity: ``paths[i]``, relative to ``root``, shows identity number ``labels[i]``."""

    root: Path
    paths: tuple[str, ...]
    labels: npt.NDArray[np.int64]

    @property
    def identities(self) -> int:
        return len(np.unique(self.labels))


def load_identities(root: Path) -> IdentitySet:
    """Read a folder with one subfolder of images per identity; identities are the subfolders' names."""
    if not root.is_dir():
        raise CalibrationError(f"{root} is not a folder")
    loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        raise CalibrationError(f"{root} holds images outside identity folders (e.g. {loose[0]}): one folder per person")
    paths: list[str] = []
    labels: list[int] = []
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    for label, folder in enumerate(folders):
        images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        paths += [f"{folder.name}/{p.name}" for p in images]
        labels += [label] * len(images)
    identity_set = IdentitySet(root, tuple(paths), np.array(labels, dtype=np.int64))
    if identity_set.identities < 2:
        raise CalibrationError(f"{root} needs images of at least two people, one folder each")
    if not len(genuine_pairs(identity_set.labels)[0]):
        raise CalibrationError(f"{root} has no person with two images: there are no same-person pairs")
    return identity_set


@dataclass(frozen=True)
class Templates:
    """Unit templates of the images that could be templated, with their identities; the rest failed to enrol."""

    vectors: npt.NDArray[np.float64]
    labels: npt.NDArray[np.int64]
    failed_to_enrol: int
    centre_box: int


def template_all(identity_set: IdentitySet, store: EmbeddingStore) -> Templates:
    """Embed every image once (through ``store``'s cache); an image without a template is left out and counted."""
    vectors, labels, failed = [], [], 0
    items = zip(identity_set.paths, identity_set.labels, strict=True)
    bar = tqdm(
        items,
        total=len(identity_set.paths),
        desc="embedding",
        unit="image",
        file=store.progress,
        disable=store.progress is None,
    )
    for path, label in bar:
        vector = store.get(identity_set.root / path)
        if vector is None:
            failed += 1
        else:
            vectors.append(vector)
            labels.append(label)
    store.save()
    if not vectors:
        raise CalibrationError("no image could be templated")
    return Templates(np.array(vectors), np.array(labels, dtype=np.int64), failed, len(store.fallbacks))


# --- pairs --------------------------------------------------------------------------------------------------


def genuine_pairs(labels: npt.NDArray[np.int64]) -> tuple[Indices, Indices]:
    """Every pair (i < j) of images of the same identity."""
    order = np.argsort(labels, kind="stable")
    first: list[Indices] = []
    second: list[Indices] = []
    for members in np.split(order, np.flatnonzero(np.diff(labels[order])) + 1):
        a, b = np.triu_indices(len(members), 1)
        first.append(members[a])
        second.append(members[b])
    return np.concatenate(first).astype(np.int64), np.concatenate(second).astype(np.int64)


def _unrank(ranks: Indices, n: int) -> tuple[Indices, Indices]:
    """The pairs (i < j) of ``n`` items at positions ``ranks`` of the row-major list of all pairs."""
    rows = np.arange(n, dtype=np.int64)
    starts = rows * n - rows * (rows + 1) // 2  # position of (i, i + 1)
    i = np.searchsorted(starts, ranks, side="right") - 1
    return i, ranks - starts[i] + i + 1


def impostor_pairs(labels: npt.NDArray[np.int64], limit: int, rng: np.random.Generator) -> tuple[Indices, Indices]:
    """Pairs (i < j) of images of different identities: all of them, or ``limit`` drawn uniformly without replacement.

    The draw is over all pairs, ``limit`` plus as many as there are
    same-identity pairs, which are then dropped; the first ``limit`` left are
    kept, so the sample is uniform over different-identity pairs and depends
    only on ``rng``'s state.
    """
    n = len(labels)
    total = n * (n - 1) // 2
    counts = np.unique(labels, return_counts=True)[1]
    same = int((counts * (counts - 1) // 2).sum())
    if total - same <= limit:
        i, j = np.triu_indices(n, 1)
    else:
        i, j = _unrank(rng.choice(total, size=min(total, limit + same), replace=False).astype(np.int64), n)
    keep = labels[i] != labels[j]
    return i[keep][:limit].astype(np.int64), j[keep][:limit].astype(np.int64)


def pair_scores(vectors: npt.NDArray[np.float64], first: Indices, second: Indices) -> Scores:
    """Cosine similarity of each pair of unit vectors, computed in chunks to bound memory."""
    scores = np.empty(len(first))
    for start in range(0, len(first), _CHUNK):
        a, b = vectors[first[start : start + _CHUNK]], vectors[second[start : start + _CHUNK]]
        scores[start : start + _CHUNK] = np.einsum("ij,ij->i", a, b)
    return np.clip(scores, -1.0, 1.0)


# --- rates --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """``errors`` of ``trials`` comparisons, with its exact (Clopper-Pearson) confidence interval."""

    errors: int
    trials: int

    @property
    def value(self) -> float:
        return self.errors / self.trials

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        from scipy.stats import binomtest

        ci = binomtest(self.errors, self.trials).proportion_ci(confidence_level=confidence, method="exact")
        return float(ci.low), float(ci.high)

    def __add__(self, other: Rate) -> Rate:
        return Rate(self.errors + other.errors, self.trials + other.trials)


def minimum_impostors(target_fmr: float) -> int:
    """How many impostor pairs place a threshold for ``target_fmr``: 30 expected false matches (rule of 30)."""
    return math.ceil(RULE_OF_30 / target_fmr - 1e-9)


def check_supported(impostors: int, target_fmr: float, what: str) -> None:
    """Raise :class:`CalibrationError` when ``impostors`` pairs cannot support ``target_fmr``."""
    needed = minimum_impostors(target_fmr)
    if impostors < needed:
        raise CalibrationError(
            f"FMR {target_fmr:g} needs at least {needed:,} different-person pairs ({RULE_OF_30} expected false "
            f"matches, the rule of 30); {what} gives {impostors:,}. Use more images or people, a larger "
            f"--impostor-pairs, or a higher --target-fmr"
        )


def threshold_for_fmr(impostor_scores: Scores, target: float) -> float:
    """The lowest threshold at which at most ``target`` of the impostor scores match.

    With N impostor pairs, at most floor(target·N) of them may score at or above
    it: the threshold sits just above the next-highest impostor score.
    """
    impostor = np.sort(impostor_scores)[::-1]
    allowed = math.floor(target * len(impostor) + 1e-9)
    if allowed >= len(impostor):
        return float(impostor[-1])
    return float(np.nextafter(impostor[allowed], np.inf))


def calibrated_threshold(impostor: Scores, target_fmr: float, *, what: str = "the calibration set") -> float:
    """The threshold for ``target_fmr``, rounded up to 4 decimals (never a higher FMR than measured)."""
    check_supported(len(impostor), target_fmr, what)
    return math.ceil(threshold_for_fmr(impostor, target_fmr) * 1e4) / 1e4


def errors_at(scores: Scores, threshold: float, *, genuine: bool) -> Rate:
    """False non-matches among genuine ``scores`` (below ``threshold``), or false matches among impostor ones."""
    wrong = scores < threshold if genuine else scores >= threshold
    return Rate(int(wrong.sum()), len(scores))


# --- calibration and cross-validation -----------------------------------------------------------------------


def identity_folds(labels: npt.NDArray[np.int64], k: int, rng: np.random.Generator) -> Indices:
    """The fold (0..k-1) of each image, all images of one identity in one fold.

    Identities are shuffled, then ordered by image count (largest first) and
    dealt round-robin, so the folds get about as many images and same-identity
    pairs each.
    """
    identities, counts = np.unique(labels, return_counts=True)
    if len(identities) < k:
        raise CalibrationError(f"{k} folds need at least {k} people; the set has {len(identities)}")
    shuffled = rng.permutation(len(identities))
    order = shuffled[np.argsort(-counts[shuffled], kind="stable")]
    fold_of = np.empty(len(identities), dtype=np.int64)
    fold_of[order] = np.arange(len(identities)) % k
    return fold_of[np.searchsorted(identities, labels)]


@dataclass(frozen=True)
class HeldOut:
    """The comparisons of the test folds: pair members' identities, and each pair's error at each target's threshold.

    ``errors[n][p]`` is true when pair ``p`` is an error at the fold threshold
    for target ``n``; a genuine pair has ``second`` equal to ``first``.
    """

    first: Indices
    second: Indices
    errors: tuple[npt.NDArray[np.bool_], ...]


def _concat(parts: Sequence[HeldOut]) -> HeldOut:
    return HeldOut(
        np.concatenate([p.first for p in parts]),
        np.concatenate([p.second for p in parts]),
        tuple(np.concatenate(e) for e in zip(*(p.errors for p in parts), strict=True)),
    )


def identity_bootstrap(
    held_out: HeldOut,
    identity_fold: npt.NDArray[np.int64],
    rng: np.random.Generator,
    *,
    replicates: int = 1000,
    confidence: float = CONFIDENCE,
) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Percentile intervals of each target's pooled (FMR, FNMR), resampling people instead of comparisons.

    The subsets bootstrap (Bolle, Ratha and Pankanti, 2004; the approach
    ISO/IEC 19795-1 gives for correlated comparisons): each replicate draws
    each fold's identities with replacement, and a pair counts as often as both
    its people were drawn (a genuine pair, as often as its one person).
    Comparisons that share a person are not independent, so this interval is
    wider than Clopper-Pearson's. ``identity_fold[i]`` is identity ``i``'s fold
    (-1: none).
    """
    size = len(identity_fold)
    weights = np.zeros((replicates, size))
    for fold in np.unique(identity_fold[identity_fold >= 0]):
        members = np.flatnonzero(identity_fold == fold)
        weights[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=replicates)
    genuine = held_out.first == held_out.second

    def impostor_weight(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        # Pairs of the same two people weigh the same: sum each replicate over distinct pairs of people.
        a, b = held_out.first[mask & ~genuine], held_out.second[mask & ~genuine]
        codes, counts = np.unique(np.minimum(a, b) * size + np.maximum(a, b), return_counts=True)
        total = np.zeros(replicates)
        for start in range(0, len(codes), _CHUNK // 4):
            part = codes[start : start + _CHUNK // 4]
            total += (weights[:, part // size] * weights[:, part % size]) @ counts[start : start + _CHUNK // 4]
        return total

    def genuine_weight(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        return weights @ np.bincount(held_out.first[mask & genuine], minlength=size)

    everything = np.ones(len(genuine), dtype=bool)
    impostor_total, genuine_total = impostor_weight(everything), genuine_weight(everything)
    tail = (1 - confidence) / 2 * 100
    intervals = []
    for wrong in held_out.errors:
        fmr = np.percentile(impostor_weight(wrong) / np.maximum(impostor_total, 1.0), [tail, 100 - tail])
        fnmr = np.percentile(genuine_weight(wrong) / np.maximum(genuine_total, 1.0), [tail, 100 - tail])
        intervals.append(((float(fmr[0]), float(fmr[1])), (float(fnmr[0]), float(fnmr[1]))))
    return intervals


@dataclass(frozen=True)
class CalibratedPoint:
    """A threshold for a target FMR, its rates on the calibration pairs, and on identities it never saw.

    ``cv_fmr_by_identity`` and ``cv_fnmr_by_identity`` are the subsets-bootstrap
    intervals of the cross-validated rates (:func:`identity_bootstrap`).
    """

    target_fmr: float
    threshold: float
    fmr: Rate
    fnmr: Rate
    cv_fmr: Rate
    cv_fnmr: Rate
    cv_fmr_by_identity: tuple[float, float]
    cv_fnmr_by_identity: tuple[float, float]
    fold_thresholds: tuple[float, ...]

    @property
    def holds(self) -> bool:
        """Whether the target lies within the 95% interval (by identity) of the cross-validated FMR."""
        low, high = self.cv_fmr_by_identity
        return low <= self.target_fmr <= high

    def as_dict(self) -> dict[str, Any]:
        """The manifest's ``operating_points`` entry (rates as fractions, intervals at 95%)."""

        def ci(interval: tuple[float, float]) -> list[float]:
            return [float(f"{x:.3g}") for x in interval]

        return {
            "target_fmr": self.target_fmr,
            "threshold": self.threshold,
            "fmr": round(self.fmr.value, 7),
            "fmr_ci95": ci(self.fmr.interval()),
            "false_matches": self.fmr.errors,
            "fnmr": round(self.fnmr.value, 5),
            "fnmr_ci95": ci(self.fnmr.interval()),
            "false_non_matches": self.fnmr.errors,
            "cv_fmr": round(self.cv_fmr.value, 7),
            "cv_fmr_ci95": ci(self.cv_fmr.interval()),
            "cv_fmr_ci95_by_identity": ci(self.cv_fmr_by_identity),
            "cv_false_matches": self.cv_fmr.errors,
            "cv_fnmr": round(self.cv_fnmr.value, 5),
            "cv_fnmr_ci95": ci(self.cv_fnmr.interval()),
            "cv_fnmr_ci95_by_identity": ci(self.cv_fnmr_by_identity),
            "cv_false_non_matches": self.cv_fnmr.errors,
            "fold_thresholds": list(self.fold_thresholds),
        }


@dataclass(frozen=True)
class Calibration:
    """Operating points with the pair counts behind them, and the scores (for the DET curve)."""

    points: tuple[CalibratedPoint, ...]
    images: int
    identities: int
    genuine: Scores
    impostor: Scores
    impostor_available: int
    cv_genuine_pairs: int
    cv_impostor_pairs: int
    folds: int
    seed: int


def _rates(held_out: HeldOut, n: int) -> tuple[Rate, Rate]:
    """(false matches, false non-matches) of target ``n`` over the held-out pairs."""
    genuine = held_out.first == held_out.second
    wrong = held_out.errors[n]
    return Rate(int(wrong[~genuine].sum()), int((~genuine).sum())), Rate(int(wrong[genuine].sum()), int(genuine.sum()))


def calibrate(
    vectors: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    targets: Sequence[float],
    *,
    impostor_pairs_limit: int = DEFAULT_IMPOSTOR_PAIRS,
    folds: int = DEFAULT_FOLDS,
    seed: int = DEFAULT_SEED,
) -> Calibration:
    """Thresholds for ``targets`` on all identities, and their cross-validated rates on held-out identities.

    Deterministic for a given ``seed``: the identity folds, each impostor
    sample and the bootstrap draw from their own streams spawned from it.
    Raises :class:`CalibrationError` when a target is not supported by the
    impostor pairs of the whole set, of a fold's training identities, or of the
    pooled test folds.
    """
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3 + 2 * folds)]
    genuine = pair_scores(vectors, *genuine_pairs(labels))
    impostor = pair_scores(vectors, *impostor_pairs(labels, impostor_pairs_limit, streams[0]))
    thresholds = [calibrated_threshold(impostor, t) for t in targets]
    fold_of = identity_folds(labels, folds, streams[1])
    fold_thresholds: list[list[float]] = []
    parts: list[HeldOut] = []
    for fold in range(folds):
        train, test = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        train_pairs = impostor_pairs(labels[train], impostor_pairs_limit, streams[3 + 2 * fold])
        train_impostor = pair_scores(vectors[train], *train_pairs)
        what = f"fold {fold + 1}'s training identities"
        fold_thresholds.append([calibrated_threshold(train_impostor, t, what=what) for t in targets])
        test_genuine = genuine_pairs(labels[test])
        test_impostor = impostor_pairs(labels[test], impostor_pairs_limit, streams[4 + 2 * fold])
        first = labels[test][np.concatenate([test_genuine[0], test_impostor[0]])]
        second = labels[test][np.concatenate([test_genuine[1], test_impostor[1]])]
        scores = np.concatenate([pair_scores(vectors[test], *test_genuine), pair_scores(vectors[test], *test_impostor)])
        is_genuine = first == second
        errors = tuple(np.where(is_genuine, scores < t, scores >= t) for t in fold_thresholds[-1])
        parts.append(HeldOut(first, second, errors))
    held_out = _concat(parts)
    identity_fold = np.full(int(labels.max()) + 1, -1, dtype=np.int64)
    identity_fold[labels] = fold_of
    intervals = identity_bootstrap(held_out, identity_fold, streams[2])
    points = []
    for n, (target, threshold) in enumerate(zip(targets, thresholds, strict=True)):
        cv_fmr, cv_fnmr = _rates(held_out, n)
        check_supported(cv_fmr.trials, target, f"the {folds} held-out folds together")
        points.append(
            CalibratedPoint(
                target_fmr=target,
                threshold=threshold,
                fmr=errors_at(impostor, threshold, genuine=False),
                fnmr=errors_at(genuine, threshold, genuine=True),
                cv_fmr=cv_fmr,
                cv_fnmr=cv_fnmr,
                cv_fmr_by_identity=intervals[n][0],
                cv_fnmr_by_identity=intervals[n][1],
                fold_thresholds=tuple(f[n] for f in fold_thresholds),
            )
        )
    n_images = len(labels)
    return Calibration(
        points=tuple(points),
        images=n_images,
        identities=len(np.unique(labels)),
        genuine=genuine,
        impostor=impostor,
        impostor_available=n_images * (n_images - 1) // 2 - len(genuine),
        cv_genuine_pairs=points[0].cv_fnmr.trials,
        cv_impostor_pairs=points[0].cv_fmr.trials,
        folds=folds,
        seed=seed,
    )
