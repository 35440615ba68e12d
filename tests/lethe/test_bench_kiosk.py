"""``lethe bench kiosk`` runs each backend in a child process and reports numbers (not judged here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lethe.cli import main


def test_bench_kiosk_reports_every_measurement(testdata: Path) -> None:
    video = testdata / "video/replay_b/replay.mp4"
    args = ["bench", "kiosk", "--json", "--latency-frames", "5", "--video", str(video)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    by_backend = {r["backend"]: r for r in json.loads(result.stdout)["results"]}
    dlib = by_backend["dlib"]
    assert dlib["frame_size"] == "640x480"
    assert dlib["latency_ms"]["frames"] == 5
    assert 0 < dlib["latency_ms"]["median"] <= dlib["latency_ms"]["p95"]
    assert dlib["sustained_fps"] > 0
    assert dlib["video_frames"] == 145
    assert dlib["first_good_frame_to_envelope_s"] > 0
    assert dlib["frames_fused"] >= 1
    assert 100 < dlib["peak_rss_mb"] < 4000
    assert "shared libraries" in dlib["page_cache"]  # measured from a cold page cache, as after boot
    # The ONNX backend is measured when it is installed, and reported as unavailable otherwise.
    assert "model" in by_backend["onnx"] or "unavailable" in by_backend["onnx"]


def test_a_backend_named_but_missing_fails_the_command(
    testdata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--backend onnx`` with its models not installed says so and exits 1 (it used to exit 0)."""
    for variable in ("LETHE_MODEL_DIR", "LETHE_MODEL_MIRROR", "LETHE_DATA_MIRROR"):
        monkeypatch.setenv(variable, str(tmp_path))  # an empty folder: no model anywhere
    video = testdata / "video/replay_b/replay.mp4"
    args = ["bench", "kiosk", "--backend", "onnx", "--warm-cache", "--latency-frames", "5", "--video", str(video)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "onnx: not available" in result.output
    assert "is not installed; run: lethe models fetch" in result.output
    assert "not measured: onnx" in result.output
    assert "backends: 100%" in result.stderr  # the progress bar, on stderr
