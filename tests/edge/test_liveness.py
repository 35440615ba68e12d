"""Passive liveness on real bona fide and attack images and videos (../shared/testdata/pad, video/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge.backends import Embedder, FaceBox
from edge.liveness import PassiveEvidence, PassiveLiveness, context_box, context_crop
from edge.quality import Detector
from edge.sources import read_image
from lethe.cli import main
from lethe.eval.pad import Scored, apcer_at_bpcer, report, score_video, video_report

NUAA = "pad/nuaa_train"


@pytest.fixture(scope="module")
def passive(data_mirror: Path) -> PassiveLiveness:
    return PassiveLiveness()


@pytest.fixture(scope="module")
def detect(dlib_backend: Embedder) -> Detector:
    return Detector(dlib_backend, max_width=640, upsample=0)


def test_context_box_is_scaled_about_the_centre() -> None:
    assert context_box(FaceBox(200, 150, 300, 250), 2.0, 640, 480) == (150, 100, 351, 301)


def test_context_box_shifts_inside_the_image_and_shrinks_when_too_large() -> None:
    left, top, right, bottom = context_box(FaceBox(0, 0, 100, 100), 2.7, 640, 480)
    assert (left, top) == (0, 0)
    assert right - left == pytest.approx(271, abs=1)
    # 4.0x a 150-px face does not fit in 480 rows: the scale shrinks, the crop stays square.
    left, top, right, bottom = context_box(FaceBox(400, 300, 550, 450), 4.0, 640, 480)
    assert bottom - top == right - left
    assert top >= 0
    assert bottom <= 480
    assert right <= 640


def test_context_crop_is_80_by_80_bgr(testdata: Path) -> None:
    image = read_image(testdata / "pad/images/image_T1.jpg")
    crop = context_crop(image, FaceBox(150, 200, 330, 420), 2.7)
    assert crop.shape == (80, 80, 3)
    assert crop.dtype.name == "uint8"


def _scores(folder: Path, detect: Detector, passive: PassiveLiveness, step: int) -> list[float]:
    scores = []
    for path in sorted(folder.iterdir())[::step]:
        image = read_image(path)
        faces = detect(image)
        assert faces, path.name
        scores.append(passive.score(image, max(faces, key=lambda f: f.width)))
    return scores


def test_live_and_printed_photos_are_told_apart(testdata: Path, detect: Detector, passive: PassiveLiveness) -> None:
    live = _scores(testdata / NUAA / "live", detect, passive, 5)
    attack = _scores(testdata / NUAA / "print_attack", detect, passive, 5)
    assert all(0.0 <= s <= 1.0 for s in live + attack)
    assert sum(s >= 0.5 for s in live) >= 0.9 * len(live)
    assert not any(s >= 0.5 for s in attack)
    result = report([Scored("live", live, 0)], [Scored("print", attack, 0)])
    assert result["apcer"] == 0.0
    assert result["bpcer"] <= 0.1
    assert result["attack_types"]["print"]["presentations"] == len(attack)


@pytest.mark.parametrize(
    ("video", "label"),
    [
        ("live_vs_replay_a/live.mov", "live"),
        ("live_vs_replay_a/replay.mp4", "attack"),
        ("replay_b/replay.mp4", "attack"),
    ],
)
def test_video_decisions(testdata: Path, detect: Detector, passive: PassiveLiveness, video: str, label: str) -> None:
    result = video_report(score_video(testdata / "video" / video, detect, passive), label)
    assert result["frames_scored"] > 30
    assert result["decision"] == label
    rate = result["bpcer"] if label == "live" else result["apcer"]
    assert rate <= 0.05


def test_rates_follow_iso_30107_3() -> None:
    live = Scored("live", [0.9, 0.8, 0.3, 0.95], 1)
    attacks = [Scored("print", [0.1, 0.6], 0), Scored("replay", [0.2, 0.1, 0.05, 0.0], 2)]
    result = report([live], attacks, threshold=0.5)
    assert result["attack_types"]["print"]["apcer"] == 0.5
    assert result["attack_types"]["replay"]["apcer"] == 0.0
    assert result["apcer"] == 0.5  # the worst attack type
    assert result["bpcer"] == 0.25
    assert result["bona_fide"]["no_face"] == 1
    assert apcer_at_bpcer([0.9, 0.8, 0.7], [0.75, 0.1]) == (0.5, 0.7)
    assert apcer_at_bpcer([0.9, 0.8, 0.7], [0.75, 0.1], target=0.34) == (0.0, 0.8)


def test_passive_evidence_is_the_median() -> None:
    evidence = PassiveEvidence.of([0.1, 0.9, 0.8])
    assert (evidence.score, evidence.frames) == (0.8, 3)
    assert evidence.is_live(0.5)
    with pytest.raises(ValueError, match="no passive"):
        PassiveEvidence.of([])


def test_eval_liveness_command_json(testdata: Path) -> None:
    images = testdata / "pad/images"
    result = CliRunner().invoke(
        main,
        [
            "eval", "liveness", "--json",
            "--live", f"sample={images / 'image_T1.jpg'}",
            "--attack", f"sample-spoof={images / 'image_F1.jpg'}",
            "--attack", f"sample-spoof={images / 'image_F2.jpg'}",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["apcer"] == 0.0
    assert answer["bpcer"] == 0.0
    assert answer["attack_types"]["sample-spoof"]["presentations"] == 2


def test_eval_liveness_video_command(testdata: Path) -> None:
    replay = testdata / "video/replay_b/replay.mp4"
    result = CliRunner().invoke(main, ["eval", "liveness", "--json", "--video", str(replay), "--label", "live"])
    assert result.exit_code == 1  # the decision contradicts the label
    assert json.loads(result.output)["decision"] == "attack"


def test_eval_liveness_usage() -> None:
    result = CliRunner().invoke(main, ["eval", "liveness", "--video", "/nonexistent.mp4", "--label", "live"])
    assert result.exit_code == 2
