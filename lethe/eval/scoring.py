"""Verification accuracy of a backend on labelled face pairs: 10-fold accuracy, EER, TAR at FAR, ROC/DET.

Pairs come from an LFW ``pairs.txt`` (a header ``folds n`` then, per fold, ``n``
same-person lines ``name i j`` and ``n`` different-person lines ``name1 i name2 j``)
or from a CSV with the columns ``file_x,file_y,Decision`` (``Yes``/``No``, as in
deepface's ``master.csv``). Every image is embedded once per run (a pair file
names many images more than once); ``cache`` keeps the embeddings in an ``.npz``
file between runs, keyed by a hash of the model, the backend's embedding
pipeline, the detection settings and the image's bytes - no image data and no
file names are stored in it.

Each image is templated the way the kiosk templates an ID portrait: the backend
detects faces (``upsample`` times enlarged), keeps the one nearest the image
centre, and embeds it. An image where the detector finds no face is a failure
to detect. By default (``no_face="centre"``) it is embedded from its central
box, LFW's convention (every LFW image is centred on a detected face), and
counted apart, so the accuracy measures the comparison and failures to detect
are reported next to it, as ISO/IEC 19795-1 keeps failure to acquire apart from
FNMR. With ``no_face="reject"`` its pairs score -1 (a certain non-match): the
accuracy then counts a failure to detect as an error.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from edge.backends import Embedder, FaceBox
from edge.sources import read_image
from lethe.eval.calibration import threshold_for_fmr

Vector = npt.NDArray[np.float64]
Scores = npt.NDArray[np.float64]
MISS_SCORE = -1.0
FAR_TARGETS = (1e-2, 1e-3)


class PairsError(ValueError):
    """A pairs file cannot be read or names an image that is not there."""


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool
    fold: int | None = None


@dataclass(frozen=True)
class PairSet:
    """Labelled pairs of image paths relative to ``images``; ``folds`` is how many the file defines (0: none)."""

    name: str
    images: Path
    pairs: tuple[Pair, ...]
    folds: int

    @property
    def genuine(self) -> int:
        return sum(p.same for p in self.pairs)

    @property
    def impostor(self) -> int:
        return len(self.pairs) - self.genuine


def _lfw_path(name: str, number: str) -> str:
    return f"{name}/{name}_{int(number):04d}.jpg"


def _read_lfw(lines: list[str]) -> tuple[list[Pair], int]:
    header = lines[0].split()
    if len(header) == 2:
        folds, per_fold = int(header[0]), int(header[1])
    elif len(header) == 1:
        folds, per_fold = 1, int(header[0])
    else:
        raise PairsError("the first line of an LFW pairs file is 'folds pairs-per-fold'")
    pairs: list[Pair] = []
    for index, line in enumerate(lines[1:]):
        fields = line.split()
        fold = index // (2 * per_fold)
        if len(fields) == 3:
            pairs.append(Pair(_lfw_path(fields[0], fields[1]), _lfw_path(fields[0], fields[2]), True, fold))
        elif len(fields) == 4:
            pairs.append(Pair(_lfw_path(fields[0], fields[1]), _lfw_path(fields[2], fields[3]), False, fold))
        else:
            raise PairsError(f"line {index + 2}: expected 3 or 4 fields, got {len(fields)}")
    if len(pairs) != folds * 2 * per_fold:
        raise PairsError(f"header promises {folds}×{2 * per_fold} pairs, file has {len(pairs)}")
    return pairs, folds


def _read_csv(text: str) -> list[Pair]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"file_x", "file_y", "Decision"} <= set(reader.fieldnames):
        raise PairsError("a CSV pairs file needs the columns file_x, file_y, Decision")
    pairs = []
    for row in reader:
        decision = row["Decision"].strip().lower()
        if decision not in {"yes", "no"}:
            raise PairsError(f"Decision must be Yes or No, got {row['Decision']!r}")
        pairs.append(Pair(row["file_x"].strip(), row["file_y"].strip(), decision == "yes"))
    return pairs


def load_pairs(pairs_file: Path, images: Path) -> PairSet:
    """Read an LFW ``pairs.txt`` or a deepface-style CSV; check that every image it names exists."""
    try:
        text = pairs_file.read_text()
    except OSError as exc:
        raise PairsError(f"cannot read {pairs_file}: {exc.strerror}") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise PairsError(f"{pairs_file} is empty")
    if "," in lines[0]:
        pairs, folds = _read_csv(text), 0
    else:
        pairs, folds = _read_lfw(lines)
    missing = sorted({p for pair in pairs for p in (pair.a, pair.b) if not (images / p).is_file()})
    if missing:
        raise PairsError(f"{len(missing)} images named in {pairs_file.name} are not in {images}, e.g. {missing[0]}")
    if not any(p.same for p in pairs) or all(p.same for p in pairs):
        raise PairsError(f"{pairs_file.name} needs both same-person and different-person pairs")
    return PairSet(pairs_file.name, images, tuple(pairs), folds)


def limit_pairs(pairset: PairSet, limit: int) -> PairSet:
    """At most ``limit`` pairs, spread evenly over the file, so the subset keeps its folds and both kinds of pair."""
    if limit >= len(pairset.pairs):
        return pairset
    chosen = sorted({round(i * (len(pairset.pairs) - 1) / (limit - 1)) for i in range(limit)})
    return replace(
        pairset,
        name=f"{pairset.name} ({len(chosen)} of {len(pairset.pairs)} pairs)",
        pairs=tuple(pairset.pairs[i] for i in chosen),
    )


def assign_folds(pairs: Sequence[Pair], folds: int, k: int = 10) -> npt.NDArray[np.int64]:
    """The fold (0..k-1) of each pair for k-fold cross-validation.

    A file with k folds keeps them. A file with fewer (this LFW copy has 5 of the
    official 10) has each of its folds cut into k/folds contiguous parts, same and
    different pairs cut separately so every part stays balanced; each part has
    the size of an official fold (300 pairs) when the file's folds are 600. A
    file without folds has its same and different pairs dealt round-robin.
    """
    result = np.zeros(len(pairs), dtype=np.int64)
    groups: dict[tuple[int | None, bool], list[int]] = {}
    for i, pair in enumerate(pairs):
        groups.setdefault((pair.fold, pair.same), []).append(i)
    if folds == k:
        return np.array([p.fold for p in pairs], dtype=np.int64)
    if folds and k % folds == 0:
        parts = k // folds
        for (fold, _), members in groups.items():
            assert fold is not None
            for j, i in enumerate(members):
                result[i] = fold * parts + j * parts // len(members)
        return result
    for members in groups.values():
        for j, i in enumerate(members):
            result[i] = j % k
    return result


# --- embeddings ---------------------------------------------------------------------------------------------


def _central(faces: list[FaceBox], width: int, height: int) -> FaceBox:
    def distance(f: FaceBox) -> float:
        return math.hypot((f.left + f.right) / 2 - width / 2, (f.top + f.bottom) / 2 - height / 2)

    return min(faces, key=distance)


def centre_box(width: int, height: int) -> FaceBox:
    """The LFW convention for a face no detector finds: the image's central square of 1/2.2 its size.

    LFW images are the Viola-Jones face box enlarged 2.2 times, so the face
    fills about this square; for other data it is only a guess.
    """
    side = min(width, height) / 2.2
    cx, cy = width / 2, height / 2
    return FaceBox(round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2), 0.0)


NO_FACE_POLICIES = ("reject", "centre")


@dataclass
class EmbeddingStore:
    """Unit embeddings per image for one backend and setting, in memory and optionally in an ``.npz`` file.

    ``no_face`` says what to do with an image where the detector finds no face:
    ``centre`` (embed :func:`centre_box`, the LFW convention; such images are
    counted in ``fallbacks``) or ``reject`` (it cannot be templated).
    ``progress`` is where :func:`score_pairs` draws its progress bar (``None``: no bar).
    """

    backend: Embedder
    upsample: int
    cache: Path | None = None
    progress: IO[str] | None = None
    no_face: str = "centre"
    _vectors: dict[str, Vector] = field(default_factory=dict)
    _dirty: bool = False
    computed: int = 0
    fallbacks: set[Path] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.cache is not None and self.cache.is_file():
            with np.load(self.cache, allow_pickle=False) as data:
                self._vectors = {key: data[key] for key in data.files}

    def _key(self, path: Path) -> str:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        backend = self.backend
        options = f"{backend.model_id}|{type(backend).__name__}|{backend.pipeline}|upsample={self.upsample}|{digest}"
        return hashlib.sha256(options.encode()).hexdigest()[:40]

    def _compute(self, path: Path, *, centre: bool) -> Vector:
        rgb = np.ascontiguousarray(read_image(path)[:, :, ::-1])
        height, width = rgb.shape[:2]
        if centre:
            face = centre_box(width, height)
        else:
            faces = self.backend.detect(rgb, upsample=self.upsample)
            if not faces:
                return np.full(1, np.nan)
            face = _central(faces, width, height)
        vector = self.backend.embed(rgb, face)
        return vector / np.linalg.norm(vector)

    def _lookup(self, key: str, path: Path, *, centre: bool) -> Vector:
        vector = self._vectors.get(key)
        if vector is None:
            vector = self._compute(path, centre=centre)
            self._vectors[key] = vector
            self._dirty = True
            self.computed += 1
            if self.computed % 250 == 0:
                self.save()  # a long run interrupted keeps what it computed
        return vector

    def get(self, path: Path) -> Vector | None:
        """The unit embedding of ``path``, or ``None`` when no face is found in it (and ``no_face`` is reject)."""
        key = self._key(path)
        vector = self._lookup(key, path, centre=False)
        if np.isnan(vector).any() and self.no_face == "centre":
            vector = self._lookup(key + "c", path, centre=True)
            self.fallbacks.add(path)
        return None if np.isnan(vector).any() else vector

    def save(self) -> None:
        """Write the cache file (0600, atomically) if anything new was computed."""
        if self.cache is None or not self._dirty:
            return
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache.with_name(self.cache.name + ".tmp.npz")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            arrays: dict[str, Any] = dict(self._vectors)
            np.savez(f, **arrays)
        os.replace(tmp, self.cache)
        self._dirty = False


@dataclass(frozen=True)
class ScoredPairs:
    scores: Scores
    same: npt.NDArray[np.bool_]
    folds: npt.NDArray[np.int64]
    missed_images: int
    missed_pairs: int
    fallback_images: int = 0


def score_pairs(pairset: PairSet, store: EmbeddingStore, *, k: int = 10) -> ScoredPairs:
    """Cosine similarity of every pair; -1 for a pair with an image where no face was found."""
    images = sorted({p for pair in pairset.pairs for p in (pair.a, pair.b)})
    bar = tqdm(images, desc="embedding", unit="image", file=store.progress, disable=store.progress is None)
    vectors = {name: store.get(pairset.images / name) for name in bar}
    store.save()
    scores = np.empty(len(pairset.pairs))
    missed = 0
    for i, pair in enumerate(pairset.pairs):
        a, b = vectors[pair.a], vectors[pair.b]
        if a is None or b is None:
            scores[i] = MISS_SCORE
            missed += 1
        else:
            scores[i] = float(np.clip(a @ b, -1.0, 1.0))
    return ScoredPairs(
        scores=scores,
        same=np.array([p.same for p in pairset.pairs]),
        folds=assign_folds(pairset.pairs, pairset.folds, k),
        missed_images=sum(v is None for v in vectors.values()),
        missed_pairs=missed,
        fallback_images=sum(pairset.images / name in store.fallbacks for name in images),
    )


# --- metrics ------------------------------------------------------------------------------------------------


def error_rates(scores: Scores, same: npt.NDArray[np.bool_], threshold: float) -> tuple[float, float]:
    """(FMR, FNMR) when a score at or above ``threshold`` is a match."""
    accept = scores >= threshold
    return float(accept[~same].mean()), float((~accept[same]).mean())


def best_threshold(scores: Scores, same: npt.NDArray[np.bool_]) -> float:
    """The threshold with the highest accuracy on these pairs (midpoint between neighbouring scores)."""
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], same[order]
    # Threshold just above s[i]: pairs 0..i rejected, the rest accepted.
    correct = np.concatenate([[y.sum()], y.sum() - np.cumsum(y) + np.cumsum(~y)])
    distinct = np.concatenate([[True], s[1:] != s[:-1], [True]])
    correct = np.where(distinct, correct, -1)
    best = int(np.argmax(correct))
    if best == 0:
        return float(s[0]) - 1e-6
    if best == len(s):
        return float(s[-1]) + 1e-6
    return float((s[best - 1] + s[best]) / 2)


@dataclass(frozen=True)
class FoldResult:
    accuracy: float
    threshold: float


def k_fold_accuracy(scored: ScoredPairs) -> list[FoldResult]:
    """Accuracy on each fold at the threshold that is best on all the other folds."""
    results = []
    for fold in np.unique(scored.folds):
        test = scored.folds == fold
        threshold = best_threshold(scored.scores[~test], scored.same[~test])
        accept = scored.scores[test] >= threshold
        results.append(FoldResult(float((accept == scored.same[test]).mean()), threshold))
    return results


def roc(scores: Scores, same: npt.NDArray[np.bool_]) -> tuple[Scores, Scores, Scores]:
    """(thresholds, FMR, FNMR) at every distinct score, thresholds ascending."""
    thresholds = np.unique(scores)
    genuine, impostor = np.sort(scores[same]), np.sort(scores[~same])
    fmr = 1.0 - np.searchsorted(impostor, thresholds, side="left") / len(impostor)
    fnmr = np.searchsorted(genuine, thresholds, side="left") / len(genuine)
    return thresholds, fmr, fnmr


def equal_error_rate(scores: Scores, same: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """(EER, threshold): where FMR and FNMR cross, linearly interpolated between neighbouring thresholds."""
    thresholds, fmr, fnmr = roc(scores, same)
    diff = fmr - fnmr  # decreasing with the threshold
    i = int(np.argmax(diff <= 0))
    if i == 0:
        return float((fmr[0] + fnmr[0]) / 2), float(thresholds[0])
    d0, d1 = diff[i - 1], diff[i]
    t = d0 / (d0 - d1) if d0 != d1 else 0.0
    eer = (fmr[i - 1] + t * (fmr[i] - fmr[i - 1]) + fnmr[i - 1] + t * (fnmr[i] - fnmr[i - 1])) / 2
    return float(eer), float(thresholds[i - 1] + t * (thresholds[i] - thresholds[i - 1]))


def threshold_at_fmr(scores: Scores, same: npt.NDArray[np.bool_], target: float) -> float:
    """The lowest threshold whose measured FMR on these pairs is at most ``target``."""
    return threshold_for_fmr(scores[~same], target)


def tar_at_far(scores: Scores, same: npt.NDArray[np.bool_], target: float) -> tuple[float, float]:
    """(TAR, threshold) at the lowest threshold whose FMR is at most ``target``."""
    threshold = threshold_at_fmr(scores, same, target)
    _, fnmr = error_rates(scores, same, threshold)
    return 1.0 - fnmr, threshold


@dataclass(frozen=True)
class Report:
    """Everything one evaluation measured; :meth:`as_json` is what ``--json`` prints."""

    model_id: str
    data: list[str]
    pairs: int
    genuine: int
    impostor: int
    folds: list[FoldResult]
    eer: float
    eer_threshold: float
    tar: dict[float, tuple[float, float]]
    missed_images: int
    missed_pairs: int
    no_face: str
    fallback_images: int

    @property
    def accuracy(self) -> float:
        return float(np.mean([f.accuracy for f in self.folds]))

    @property
    def accuracy_std(self) -> float:
        return float(np.std([f.accuracy for f in self.folds]))

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model_id,
            "data": self.data,
            "pairs": self.pairs,
            "genuine_pairs": self.genuine,
            "impostor_pairs": self.impostor,
            "accuracy": round(self.accuracy, 6),
            "accuracy_std": round(self.accuracy_std, 6),
            "folds": len(self.folds),
            "fold_thresholds": [round(f.threshold, 4) for f in self.folds],
            "eer": round(self.eer, 6),
            "eer_threshold": round(self.eer_threshold, 4),
            "tar_at_far": {str(far): round(tar, 6) for far, (tar, _) in self.tar.items()},
            "threshold_at_far": {str(far): round(t, 6) for far, (_, t) in self.tar.items()},
            "no_face": self.no_face,
            "failed_to_template": {"images": self.missed_images, "pairs": self.missed_pairs},
            "centre_box_images": self.fallback_images,
        }


def evaluate(model_id: str, data: list[str], scored: ScoredPairs, *, no_face: str = "centre") -> Report:
    eer, eer_threshold = equal_error_rate(scored.scores, scored.same)
    return Report(
        model_id=model_id,
        data=data,
        pairs=len(scored.scores),
        genuine=int(scored.same.sum()),
        impostor=int((~scored.same).sum()),
        folds=k_fold_accuracy(scored),
        eer=eer,
        eer_threshold=eer_threshold,
        tar={far: tar_at_far(scored.scores, scored.same, far) for far in FAR_TARGETS},
        missed_images=scored.missed_images,
        missed_pairs=scored.missed_pairs,
        no_face=no_face,
        fallback_images=scored.fallback_images,
    )


# --- plots --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    """A point drawn on a curve: an operating point, filled, or a rate measured elsewhere, hollow."""

    label: str
    fmr: float
    fnmr: float
    filled: bool = True


@dataclass(frozen=True)
class Curve:
    label: str
    scored: ScoredPairs
    markers: tuple[Marker, ...] = ()


def plot_roc_det(
    curves: Sequence[Curve], path: Path, *, title: str = "", targets: Sequence[float] = FAR_TARGETS
) -> None:
    """ROC (TAR against FAR) and DET (FNMR against FMR) side by side, log axes, as a PNG.

    The FMR axis reaches down to one impostor pair in the largest set (at
    least 1e-4); grey lines mark ``targets``.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, (ax_roc, ax_det) = plt.subplots(1, 2, figsize=(11, 4.8))
    impostors = max(int((~c.scored.same).sum()) for c in curves)
    floor = min(1e-4, 10.0 ** math.floor(math.log10(1 / impostors)))
    for curve in curves:
        _, fmr, fnmr = roc(curve.scored.scores, curve.scored.same)
        (line,) = ax_roc.plot(np.maximum(fmr, floor), 1 - fnmr, label=curve.label, drawstyle="steps-post")
        ax_det.plot(np.maximum(fmr, floor), np.maximum(fnmr, 1e-4), label=curve.label, color=line.get_color())
        for marker in curve.markers:
            style: dict[str, Any] = {"marker": "o" if marker.filled else "s", "color": line.get_color(), "zorder": 3}
            if not marker.filled:
                style["markerfacecolor"] = "none"
            ax_roc.plot([max(marker.fmr, floor)], [1 - marker.fnmr], linestyle="none", **style)
            point = ([max(marker.fmr, floor)], [max(marker.fnmr, 1e-4)])
            ax_det.plot(*point, linestyle="none", label=marker.label, **style)
    for far in targets:
        ax_roc.axvline(far, color="grey", linewidth=0.6, linestyle=":")
        ax_det.axvline(far, color="grey", linewidth=0.6, linestyle=":")
    lowest = min([0.8] + [1 - m.fnmr - 0.05 for c in curves for m in c.markers])
    ax_roc.set(xscale="log", xlim=(floor, 1), ylim=(lowest, 1.001), xlabel="false accept rate (FMR)", ylabel="TAR")
    ax_roc.set_title("ROC")
    ax_det.set(xscale="log", yscale="log", xlim=(floor, 1), ylim=(1e-4, 1), xlabel="FMR", ylabel="FNMR")
    ax_det.set_title("DET")
    for ax in (ax_roc, ax_det):
        ax.grid(True, which="both", linewidth=0.3)
        ax.legend(fontsize=8, loc="lower right" if ax is ax_roc else "lower left")
    lines = ", ".join(f"{t:g}" for t in targets)
    note = f"FMR below {floor:g} and FNMR below 1e-4 drawn at the axis; dotted lines: FMR {lines}"
    fig.text(0.01, 0.01, note, fontsize=7, color="grey")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
