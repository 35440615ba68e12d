"""``lethe eval liveness``: APCER per attack type and BPCER of the passive liveness models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edge.liveness import DEFAULT_THRESHOLD


def _named(spec: str) -> tuple[str, Path]:
    """``TYPE=PATH`` or ``PATH`` (a folder or an image; its name is the type)."""
    name, sep, folder = spec.partition("=")
    path = Path(folder if sep else name)
    if not path.exists():
        raise click.BadParameter(f"{path} does not exist")
    return (name if sep else path.stem), path


def _grouped(specs: tuple[str, ...]) -> dict[str, list[Path]]:
    groups: dict[str, list[Path]] = {}
    for name, path in map(_named, specs):
        groups.setdefault(name, []).append(path)
    return groups


@click.command("liveness")
@click.option("--live", "live_dirs", multiple=True, help="Bona fide images: [NAME=]DIR or FILE, repeatable.")
@click.option(
    "--attack",
    "attack_dirs",
    multiple=True,
    help="Attack images of one type: [TYPE=]DIR or FILE, repeatable; the same TYPE pools.",
)
@click.option("--video", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Evaluate one video.")
@click.option("--label", type=click.Choice(["live", "attack"]), help="What the --video shows.")
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=DEFAULT_THRESHOLD,
    show_default=True,
    help="P(live) at or above which a presentation is bona fide.",
)
@click.option("--upsample", type=click.IntRange(0, 2), default=0, show_default=True, help="HOG upsampling.")
@click.option(
    "--landmarks",
    type=click.Choice(["mediapipe-face-mesh", "dlib-68"]),
    default="mediapipe-face-mesh",
    show_default=True,
    help="Video: the landmark model the active challenges are checked with (dlib-68 for comparison only).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def liveness(
    live_dirs: tuple[str, ...],
    attack_dirs: tuple[str, ...],
    video: Path | None,
    label: str | None,
    threshold: float,
    upsample: int,
    landmarks: str,
    as_json: bool,
) -> None:
    """Passive liveness (MiniFASNet V2 + V1SE) as ISO/IEC 30107-3 reports it.

    Images: every image given or under each --live and --attack folder is one presentation,
    its largest face (dlib HOG, as the kiosk detects) scored. APCER is given per
    attack type and as the worst type's; BPCER over all bona fide images; faces
    not found are counted apart. Video: every frame with exactly one face (as the
    kiosk uses them) is a presentation; the
    decision is "live" when the median P(live) over frames reaches the threshold;
    each active challenge (blink, turn left, turn right) is also run over the
    video's frames with the --landmarks model, and the frame where it would pass
    is reported (on an attack, a challenge it would pass had it been drawn).
    Exit status 0, or 1 when a --video decision contradicts its --label.
    """
    if video is not None and (live_dirs or attack_dirs):
        raise click.UsageError("give either --video or --live/--attack folders")
    if video is not None and label is None:
        raise click.UsageError("--video needs --label live|attack")
    if video is None and not (live_dirs and attack_dirs):
        raise click.UsageError("give --live and --attack folders, or --video with --label")
    from edge.backends import create_backend
    from edge.errors import EdgeError
    from edge.landmarks import LandmarkModel
    from edge.liveness import PassiveLiveness
    from edge.quality import Detector
    from edge.settings import KioskSettings
    from lethe.eval.pad import challenges_on_video, report, score_group, score_video, video_report

    try:
        backend = create_backend("dlib")
        detect = Detector(backend, max_width=KioskSettings().detect_width or backend.detect_width, upsample=upsample)
        passive = PassiveLiveness()
        if video is not None:
            assert label is not None
            result = video_report(score_video(video, detect, passive), label, threshold)
            result["landmarks"] = landmarks
            result["challenges"] = challenges_on_video(video, detect, LandmarkModel(landmarks))
        else:
            live = [score_group(name, paths, detect, passive) for name, paths in _grouped(live_dirs).items()]
            attacks = [score_group(name, paths, detect, passive) for name, paths in _grouped(attack_dirs).items()]
            result = report(live, attacks, threshold)
    except EdgeError as exc:
        raise click.ClickException(f"[{exc.code}] {exc.detail}") from None
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(_text(result))
    if video is not None and not result["correct"]:
        raise SystemExit(1)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def _text(result: dict[str, Any]) -> str:
    if "decision" in result:
        return (
            f"{result['video']}: {result['decision']} (median P(live) {result['median_score']}, "
            f"{result['frames_scored']} frames scored, {result['no_face']} without a face; label {result['label']})\n"
            f"  APCER {_pct(result['apcer'])}  BPCER {_pct(result['bpcer'])}\n"
            f"  challenges ({result['landmarks']}): "
            + ", ".join(
                f"{name} {'passes at frame ' + str(at) if at is not None else 'never passes'}"
                for name, at in result["challenges"].items()
            )
        )
    lines = [f"threshold {result['threshold']}"]
    for name, row in result["attack_types"].items():
        lines.append(
            f"  APCER {name}: {_pct(row['apcer'])} ({row['accepted']}/{row['presentations']}, no face {row['no_face']})"
        )
    bona = result["bona_fide"]
    lines.append(f"APCER (worst type) {_pct(result['apcer'])}")
    lines.append(
        f"BPCER {_pct(result['bpcer'])} ({bona['rejected']}/{bona['presentations']}, no face {bona['no_face']})"
    )
    if at := result.get("apcer_at_bpcer_5pct"):
        lines.append(f"APCER at BPCER <= 5%: {_pct(at['apcer'])} (threshold {at['threshold']})")
    return "\n".join(lines)
