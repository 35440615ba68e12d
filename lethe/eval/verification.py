"""``lethe eval verification`` and ``lethe eval calibrate``: a backend's accuracy on pairs, and its threshold."""

from __future__ import annotations

import datetime
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import click

from lethe.eval.calibration import DEFAULT_FOLDS, DEFAULT_IMPOSTOR_PAIRS, DEFAULT_SEED
from models.registry import in_words

BACKENDS = ("dlib", "onnx")


def _backend(name: str, embedder: str | None, threads: int) -> Any:
    from edge.backends import create_backend
    from edge.errors import EdgeError

    options: dict[str, Any] = {}
    if name == "onnx":
        options = {"threads": threads} | ({"embedder": embedder} if embedder else {})
    elif embedder:
        raise click.UsageError("--embedder is for --backend onnx")
    try:
        return create_backend(name, **options)
    except EdgeError as exc:
        raise click.ClickException(exc.detail) from None


def _load(pairs: Path, images: Path) -> Any:
    from lethe.eval.scoring import PairsError, load_pairs

    try:
        return load_pairs(pairs, images)
    except PairsError as exc:
        raise click.ClickException(str(exc)) from None


def _label(path: Path) -> str:
    """``path`` relative to the data mirror (as SOURCES.md names it) when it lies inside it."""
    mirror = os.environ.get("LETHE_DATA_MIRROR")
    if mirror:
        try:
            return str(path.resolve().relative_to(Path(mirror).resolve()))
        except ValueError:
            pass
    return str(path)


def _default_images() -> Path:
    mirror = os.environ.get("LETHE_DATA_MIRROR")
    if not mirror:
        raise click.UsageError("give --images DIR (or set LETHE_DATA_MIRROR to the folder holding testdata/)")
    return Path(mirror) / "testdata" / "lfw" / "images"


def unmeasurable_fars(tar: dict[float, Any], impostor_pairs: int) -> list[float]:
    """The false-accept rates asked for that the impostor pairs cannot resolve (below one over their number)."""
    return [far for far in tar if impostor_pairs == 0 or far < 1 / impostor_pairs]


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


_backend_options = [
    click.option("--backend", type=click.Choice(BACKENDS), default="dlib", show_default=True, help="Face backend."),
    click.option(
        "--embedder",
        help="ONNX embedder model id: dlib-resnet-v1 or mobilefacenet-112 (default: LETHE_KIOSK_ONNX_EMBEDDER, "
        "else dlib-resnet-v1).",
    ),
    click.option("--threads", type=click.IntRange(1, 64), default=1, show_default=True, help="onnxruntime threads."),
    click.option(
        "--upsample",
        type=click.IntRange(0, 2),
        default=1,
        show_default=True,
        help="Enlarge each image 2^N times for detection (LFW faces are small).",
    ),
    click.option(
        "--no-face",
        type=click.Choice(["centre", "reject"]),
        default="centre",
        show_default=True,
        help="An image with no face detected: embed its central box (centre: LFW's convention, every image "
        "is centred on a face; the count is printed as failures to detect) or score its pairs as "
        "non-matches (reject: failures to detect counted as errors).",
    ),
    click.option(
        "--cache",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Keep embeddings in this .npz between runs (keyed by hashes of model and image; keep it out of the repo).",
    ),
]


def backend_options(f: Any) -> Any:
    for option in reversed(_backend_options):
        f = option(f)
    return f


@click.command()
@click.option("--pairs", "pairs_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--images", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@backend_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=Path), help="Write the ROC and DET curves to this PNG."
)
@click.option(
    "--limit",
    type=click.IntRange(20),
    help="Score at most this many pairs, spread evenly over the file (a quick try; the numbers are rougher).",
)
def verification(
    pairs_file: Path,
    images: Path,
    backend: str,
    embedder: str | None,
    threads: int,
    upsample: int,
    no_face: str,
    cache: Path | None,
    as_json: bool,
    plot: Path | None,
    limit: int | None,
) -> None:
    """Verification accuracy of a backend on labelled pairs (an LFW pairs.txt or a file_x,file_y,Decision CSV).

    Reports accuracy under the 10-fold protocol (each fold tested at the
    threshold best on the other nine; a file with 5 folds has each cut in two),
    the equal error rate, and the TAR at FAR 1e-2 and 1e-3. With --json, one
    object with `accuracy` (a fraction), `eer` and `tar_at_far`.

    An image where the detector finds no face is, by default, embedded from its
    central box (LFW's images are all centred on a face) and counted as a
    failure to detect, printed apart: the accuracy measures the comparison, as
    ISO/IEC 19795-1 keeps failure to acquire apart from FNMR. The kiosk never
    compares a frame without a face; it reads the next one. --no-face reject
    scores such an image's pairs as non-matches instead.
    """
    from lethe.eval.scoring import Curve, EmbeddingStore, evaluate, limit_pairs, plot_roc_det, score_pairs

    pairset = _load(pairs_file, images)
    if limit is not None:
        pairset = limit_pairs(pairset, limit)
    embedder_ = _backend(backend, embedder, threads)
    store = EmbeddingStore(embedder_, upsample=upsample, cache=cache, progress=sys.stderr, no_face=no_face)
    scored = score_pairs(pairset, store)
    report = evaluate(embedder_.model_id, [_label(pairs_file)], scored, no_face=no_face)
    if plot is not None:
        curve = Curve(f"{embedder_.model_id} ({len(scored.scores)} pairs)", scored)
        plot_roc_det([curve], plot, title=f"{embedder_.model_id} on {_label(pairs_file)}")
    unmeasured = unmeasurable_fars(report.tar, report.impostor)
    for far in unmeasured:
        click.echo(
            f"warning: FAR {far:g} is below 1/{report.impostor} (one over the impostor pairs): no impostor "
            f"can be accepted that rarely here, so its TAR is not measured; use at least {math.ceil(1 / far)} "
            "impostor pairs",
            err=True,
        )
    if as_json:
        click.echo(json.dumps(report.as_json() | {"unmeasured_fars": unmeasured, "limit": limit}))
        return
    click.echo(
        f"{report.model_id} on {report.data[0]}: {report.pairs} pairs "
        f"({report.genuine} same person, {report.impostor} different)"
    )
    click.echo(
        f"  accuracy ({len(report.folds)}-fold): {_pct(report.accuracy)} ± {_pct(report.accuracy_std)}"
        f"  (mean threshold {sum(f.threshold for f in report.folds) / len(report.folds):.4f})"
    )
    click.echo(f"  EER: {_pct(report.eer)} at threshold {report.eer_threshold:.4f}")
    for far, (tar, threshold) in report.tar.items():
        note = f" — not measured: FAR below 1/{report.impostor} impostor pairs" if far in unmeasured else ""
        click.echo(f"  TAR at FAR {far:g}: {_pct(tar)} (threshold {threshold:.4f}){note}")
    click.echo(f"  failures to detect (--no-face {no_face}): ", nl=False)
    if no_face == "centre":
        click.echo(f"{report.fallback_images} images, embedded from their central box")
    else:
        click.echo(f"{report.missed_images} images, so {report.missed_pairs} pairs scored as non-matches")
    if plot is not None:
        click.echo(f"  ROC/DET: {plot}")


@click.command()
@backend_options
@click.option(
    "--images",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="One folder per person, holding that person's images. Default: the LFW images in $LETHE_DATA_MIRROR.",
)
@click.option(
    "--target-fmr",
    "targets",
    multiple=True,
    type=click.FloatRange(1e-7, 0.5),
    help="False-match rate to calibrate for; repeat for more. Default: 0.001 and 0.0001, the operating points a "
    "property chooses from.",
)
@click.option(
    "--impostor-pairs",
    type=click.IntRange(1),
    default=DEFAULT_IMPOSTOR_PAIRS,
    show_default=True,
    help="Different-person pairs to sample (all of them when there are fewer).",
)
@click.option("--folds", type=click.IntRange(2, 20), default=DEFAULT_FOLDS, show_default=True, help="Folds of people.")
@click.option("--seed", type=click.IntRange(0), default=DEFAULT_SEED, show_default=True, help="Seed of every draw.")
@click.option("--write/--dry-run", default=True, show_default=True, help="Write the thresholds into the manifest.")
@click.option(
    "--manifest",
    "manifest_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The manifest to write (default: the installed models/manifest.toml).",
)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Write ROC and DET curves to this PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def calibrate(
    backend: str,
    embedder: str | None,
    threads: int,
    upsample: int,
    no_face: str,
    cache: Path | None,
    images: Path | None,
    targets: tuple[float, ...],
    impostor_pairs: int,
    folds: int,
    seed: int,
    write: bool,
    manifest_path: Path | None,
    plot: Path | None,
    as_json: bool,
) -> None:
    """Thresholds of a backend's embedder for target false-match rates, and what they give on new people.

    Every same-person pair of the images is a genuine comparison; different-
    person pairs are sampled (--impostor-pairs, --seed). For each target FMR
    the threshold is the lowest, rounded up to 4 decimals, at which at most
    target·N of the N impostor pairs match; a target with N < 30/target (the
    rule of 30) is refused. Then, --folds times, the threshold is calibrated
    again on the other folds' people only and the held-out fold's pairs are
    compared at it: the pooled rates are what a hotel can expect on guests
    the calibration never saw. Rates carry 95% intervals: Clopper-Pearson,
    and a bootstrap over people (pairs that share a person are not
    independent). The manifest entry gets one operating point per target
    and a calibration table with the counts, the seed and the command.
    """
    from lethe.eval.calibration import CalibrationError, load_identities, template_all
    from lethe.eval.calibration import calibrate as run_calibration
    from lethe.eval.scoring import EmbeddingStore
    from models.calibration import write_calibration
    from models.registry import MANIFEST_PATH, OPERATING_POINTS, ModelError

    images = images or _default_images()
    targets = tuple(sorted(set(targets or OPERATING_POINTS), reverse=True))
    embedder_ = _backend(backend, embedder, threads)
    store = EmbeddingStore(embedder_, upsample=upsample, cache=cache, progress=sys.stderr, no_face=no_face)
    try:
        templates = template_all(load_identities(images), store)
        result = run_calibration(
            templates.vectors, templates.labels, targets, impostor_pairs_limit=impostor_pairs, folds=folds, seed=seed
        )
    except CalibrationError as exc:
        raise click.ClickException(str(exc)) from None
    command = f"lethe eval calibrate --backend {backend}" + (f" --embedder {embedder}" if embedder else "")
    command += f" --upsample {upsample} --no-face {no_face} --images {_label(images)}"
    command += f" --impostor-pairs {impostor_pairs} --folds {folds} --seed {seed}"
    command += "".join(f" --target-fmr {t:g}" for t in targets)
    calibration: dict[str, Any] = {
        "data": _label(images),
        "images": result.images + templates.failed_to_enrol,
        "identities": result.identities,
        "no_face": no_face,
        "centre_box_images": templates.centre_box,
        "failed_to_enrol_images": templates.failed_to_enrol,
        "genuine_pairs": len(result.genuine),
        "impostor_pairs": len(result.impostor),
        "impostor_pairs_available": result.impostor_available,
        "seed": seed,
        "folds": folds,
        "cv_genuine_pairs": result.cv_genuine_pairs,
        "cv_impostor_pairs": result.cv_impostor_pairs,
        "intervals": "95%: Clopper-Pearson (*_ci95); subsets bootstrap over people, 1000 replicates (*_by_identity)",
        "date": datetime.date.today().isoformat(),
        "command": command,
    }
    points = [p.as_dict() for p in result.points]
    if write:
        try:
            write_calibration(embedder_.model_id, points, calibration, path=manifest_path or MANIFEST_PATH)
        except ModelError as exc:
            raise click.ClickException(str(exc)) from None
    if plot is not None:
        _plot_calibration(embedder_.model_id, result, plot)
    if as_json:
        click.echo(
            json.dumps({"model": embedder_.model_id, "written": write, "operating_points": points} | calibration)
        )
        return
    _print_calibration(embedder_.model_id, calibration, result)
    click.echo("  manifest " + ("updated" if write else "not written (--dry-run)"))
    if plot is not None:
        click.echo(f"  ROC/DET: {plot}")


def _print_calibration(model_id: str, calibration: dict[str, Any], result: Any) -> None:
    c = calibration
    click.echo(
        f"{model_id} on {c['data']}: {c['images']:,} images of {c['identities']:,} people "
        f"({c['centre_box_images']} embedded from their central box, {c['failed_to_enrol_images']} failed to enrol)"
    )
    click.echo(
        f"  {c['genuine_pairs']:,} same-person pairs (all); {c['impostor_pairs']:,} different-person pairs "
        f"of {c['impostor_pairs_available']:,} (seed {c['seed']})"
    )

    def pct(x: float) -> str:
        return f"{100 * x:.3g}%"

    def rate(r: Any, by_identity: tuple[float, float] | None = None) -> str:
        low, high = r.interval()
        text = f"{pct(r.value)} [{pct(low)}, {pct(high)}] ({r.errors:,} of {r.trials:,})"
        if by_identity is not None:
            text += f", by people [{pct(by_identity[0])}, {pct(by_identity[1])}]"
        return text

    for p in result.points:
        click.echo(f"  FMR {p.target_fmr:g}: threshold {p.threshold:.4f}")
        click.echo(f"    on these pairs: FMR {rate(p.fmr)}; FNMR {rate(p.fnmr)}")
        click.echo(f"    on people not used to calibrate ({c['folds']} folds by person):")
        click.echo(f"      FMR {rate(p.cv_fmr, p.cv_fmr_by_identity)}")
        click.echo(f"      FNMR {rate(p.cv_fnmr, p.cv_fnmr_by_identity)}")
        click.echo(f"      target {'within' if p.holds else 'NOT within'} the FMR's interval by people")
        click.echo(f"    {in_words(p.cv_fmr.value, p.cv_fnmr.value)}")


def _plot_calibration(model_id: str, result: Any, path: Path) -> None:
    import numpy as np

    from lethe.eval.scoring import Curve, Marker, ScoredPairs, plot_roc_det

    scores = np.concatenate([result.genuine, result.impostor])
    same = np.concatenate([np.ones(len(result.genuine), bool), np.zeros(len(result.impostor), bool)])
    scored = ScoredPairs(scores, same, np.zeros(len(scores), np.int64), 0, 0)
    markers: list[Marker] = []
    for p in result.points:
        markers.append(Marker(f"{p.threshold:.4f}: FMR {p.target_fmr:g} on these pairs", p.fmr.value, p.fnmr.value))
        markers.append(Marker(f"{p.threshold:.4f}: on new people (CV)", p.cv_fmr.value, p.cv_fnmr.value, False))
    label = f"{len(result.genuine):,} same / {len(result.impostor):,} different-person pairs"
    title = f"{model_id} on {result.images:,} images of {result.identities:,} people"
    plot_roc_det(
        [Curve(label, scored, tuple(markers))], path, title=title, targets=[p.target_fmr for p in result.points]
    )
