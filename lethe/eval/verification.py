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

BACKENDS = ("dlib", "onnx")
DEFAULT_TARGET_FMR = 1e-3


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


def _default_data() -> list[tuple[Path, Path]]:
    mirror = os.environ.get("LETHE_DATA_MIRROR")
    if not mirror:
        raise click.UsageError("give --data PAIRS IMAGES (or set LETHE_DATA_MIRROR to the folder holding testdata/)")
    testdata = Path(mirror) / "testdata"
    return [
        (testdata / "lfw" / "pairs.txt", testdata / "lfw" / "images"),
        (testdata / "faces" / "deepface" / "master.csv", testdata / "faces" / "deepface"),
    ]


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
    from lethe.eval.scoring import Curve, EmbeddingStore, evaluate, plot_roc_det, score_pairs

    pairset = _load(pairs_file, images)
    embedder_ = _backend(backend, embedder, threads)
    store = EmbeddingStore(embedder_, upsample=upsample, cache=cache, progress=sys.stderr, no_face=no_face)
    scored = score_pairs(pairset, store)
    report = evaluate(embedder_.model_id, [_label(pairs_file)], scored, no_face=no_face)
    if plot is not None:
        curve = Curve(f"{embedder_.model_id} ({len(scored.scores)} pairs)", scored)
        plot_roc_det([curve], plot, title=f"{embedder_.model_id} on {_label(pairs_file)}")
    if as_json:
        click.echo(json.dumps(report.as_json()))
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
        click.echo(f"  TAR at FAR {far:g}: {_pct(tar)} (threshold {threshold:.4f})")
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
    "--data",
    "datasets",
    multiple=True,
    nargs=2,
    type=click.Path(exists=True, path_type=Path),
    metavar="PAIRS IMAGES",
    help="A pairs file and its image folder; repeat for more. Default: LFW and deepface pairs in $LETHE_DATA_MIRROR.",
)
@click.option("--target-fmr", type=click.FloatRange(1e-6, 0.5), default=DEFAULT_TARGET_FMR, show_default=True)
@click.option("--write/--dry-run", default=True, show_default=True, help="Write the threshold into the manifest.")
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
    datasets: tuple[tuple[Path, Path], ...],
    target_fmr: float,
    write: bool,
    manifest_path: Path | None,
    plot: Path | None,
    as_json: bool,
) -> None:
    """Choose a backend's threshold for a target false-match rate and write it into the model manifest.

    Over all the pairs together, the threshold is the lowest (rounded up to 4
    decimals) at which at most target·N of the N different-person pairs match.
    The manifest entry gets the threshold and a calibration table: measured FMR
    and FNMR, the pair counts, the data, 10-fold accuracy and EER per data set,
    the date and the command. The service reads thresholds from the manifest only.
    """
    from lethe.eval.scoring import (
        Curve,
        EmbeddingStore,
        combine,
        error_rates,
        evaluate,
        plot_roc_det,
        score_pairs,
        threshold_at_fmr,
    )
    from models.calibration import write_threshold
    from models.registry import MANIFEST_PATH

    data = list(datasets) or _default_data()
    pairsets = [_load(pairs, images) for pairs, images in data]
    embedder_ = _backend(backend, embedder, threads)
    store = EmbeddingStore(embedder_, upsample=upsample, cache=cache, progress=sys.stderr, no_face=no_face)
    scored = [score_pairs(p, store) for p in pairsets]
    everything = combine(scored)
    raw = threshold_at_fmr(everything.scores, everything.same, target_fmr)
    threshold = math.ceil(raw * 1e4) / 1e4
    fmr, fnmr = error_rates(everything.scores, everything.same, threshold)
    impostor, genuine = int((~everything.same).sum()), int(everything.same.sum())
    per_set = {
        _label(pairs): evaluate(embedder_.model_id, [_label(pairs)], s, no_face=no_face)
        for (pairs, _), s in zip(data, scored, strict=True)
    }
    command = f"lethe eval calibrate --backend {backend}" + (f" --embedder {embedder}" if embedder else "")
    command += f" --upsample {upsample} --no-face {no_face} --target-fmr {target_fmr:g}"
    calibration: dict[str, Any] = {
        "target_fmr": target_fmr,
        "fmr": round(fmr, 6),
        "fnmr": round(fnmr, 6),
        "false_matches": round(fmr * impostor),
        "impostor_pairs": impostor,
        "genuine_pairs": genuine,
        "no_face": no_face,
        "failed_to_template_images": everything.missed_images,
        "centre_box_images": everything.fallback_images,
        "data": [_label(pairs) for pairs, _ in data],
        "accuracy_10fold": {name: round(r.accuracy, 4) for name, r in per_set.items()},
        "eer": {name: round(r.eer, 4) for name, r in per_set.items()},
        "date": datetime.date.today().isoformat(),
        "command": command,
    }
    note = (
        f"calibrated for FMR <= {target_fmr:g}: {calibration['false_matches']} false match(es) in {impostor} "
        f"different-person pairs, FNMR {_pct(fnmr)} over {genuine} same-person pairs; see docs/evaluation.md"
    )
    if write:
        write_threshold(embedder_.model_id, threshold, note, calibration, path=manifest_path or MANIFEST_PATH)
    if plot is not None:
        curves = [
            Curve(f"{_label(pairs)} ({len(s.scores)} pairs)", s, threshold)
            for (pairs, _), s in zip(data, scored, strict=True)
        ]
        if len(curves) > 1:
            curves.append(Curve(f"all ({len(everything.scores)} pairs)", everything, threshold))
        plot_roc_det(curves, plot, title=f"{embedder_.model_id}: threshold {threshold:.4f} for FMR ≤ {target_fmr:g}")
    if as_json:
        click.echo(json.dumps({"model": embedder_.model_id, "threshold": threshold, "written": write} | calibration))
        return
    click.echo(f"{embedder_.model_id}: threshold {threshold:.4f} for FMR <= {target_fmr:g}")
    click.echo(f"  FMR {_pct(fmr)} ({calibration['false_matches']} of {impostor}), FNMR {_pct(fnmr)} (of {genuine})")
    for name, r in per_set.items():
        click.echo(f"  {name}: 10-fold accuracy {_pct(r.accuracy)}, EER {_pct(r.eer)}")
    if fnmr > 0:
        click.echo(f"  about one genuine guest in {round(1 / fnmr)} would be sent to the desk")
    click.echo("  manifest " + ("updated" if write else "not written (--dry-run)"))
    if plot is not None:
        click.echo(f"  ROC/DET: {plot}")
