"""``lethe bench kiosk``: the kiosk's speed and memory per backend, at 640×480 on one core.

Each backend is measured in its own child process pinned to one CPU (so peak
RSS is that backend's alone and threads cannot spread): the child loads the
backend, the landmark model (MediaPipe's face mesh) and the passive liveness models, then

* latency: frame → detection → landmarks → quality gate → passive liveness →
  template, on every frame whose face passes the gate (median and p95);
* sustained frames/s: the capture loop (decode, resize to 640×480, detect,
  landmarks, gate, passive on good frames) over the whole video as fast as
  possible, embedding nothing, as the kiosk does until it has its frames;
* first good frame → sealed envelope: a full :class:`~edge.capture.LiveCapture`
  run on the frames held in memory (10 good frames, the best 5 embedded and
  fused), then payload encoding and HPKE sealing, from the moment the first good
  frame arrived;
* peak RSS of the child (``ru_maxrss``).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self, cast

import click
import cv2
import numpy as np
from tqdm import tqdm

WIDTH, HEIGHT = 640, 480
DEFAULT_VIDEO = "video/live_vs_replay_a/live.mov"
BACKENDS = ("dlib", "onnx")


def to_640x480(bgr: np.ndarray) -> np.ndarray:
    """Centre-crop to 4:3 and resize to 640×480, as a 640×480 camera would deliver the scene."""
    height, width = bgr.shape[:2]
    crop_w = min(width, round(height * 4 / 3))
    left = (width - crop_w) // 2
    return cast(np.ndarray, cv2.resize(bgr[:, left : left + crop_w], (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA))


class _ResizedSource:
    """A video file's frames at 640×480, as a 640×480 camera would deliver them (read as fast as possible)."""

    description = "video at 640x480"

    def __init__(self, video: Path) -> None:
        from edge.sources import VideoFileSource

        self._video = VideoFileSource(video)

    def __enter__(self) -> Self:
        self._video.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._video.__exit__(*exc_info)

    def frames(self) -> Iterator[Any]:
        from edge.sources import Frame

        for frame in self._video.frames():
            yield Frame(to_640x480(frame.image), frame.index, frame.timestamp_s)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def measure(backend_name: str, video: Path, latency_frames: int) -> dict[str, Any]:
    """Run every measurement for one backend in this process; return numbers only."""
    from edge.backends import create_backend
    from edge.capture import LiveCapture
    from edge.landmarks import LandmarkModel
    from edge.liveness import MODEL_NAME, PassiveLiveness
    from edge.settings import KioskSettings
    from edge.sources import Frame, VideoFileSource
    from models import load_manifest
    from protocol import (
        CheckinPayload,
        LivenessEvidence,
        RecipientPrivateKey,
        SigningKey,
        encode_payload,
        seal,
    )

    started = time.perf_counter()
    backend = create_backend(backend_name)
    landmarks, passive = LandmarkModel(), PassiveLiveness(threads=1)
    load_s = time.perf_counter() - started
    settings = KioskSettings()
    threshold = load_manifest().threshold(backend.model_id)
    capturer = LiveCapture(backend, settings, match_threshold=threshold, landmarks=landmarks, passive=passive)

    # Sustained frames/s over the whole video, decoding included; no frame is kept.
    frames_read = good = 0
    latencies: list[float] = []
    cpu_latencies: list[float] = []
    with VideoFileSource(video) as source:
        loop_started, loop_cpu = time.perf_counter(), time.process_time()
        for frame in source.frames():
            image = to_640x480(frame.image)
            frames_read += 1
            verdict = capturer.assess(Frame(image, frame.index, frame.timestamp_s))
            if verdict.ok and verdict.quality is not None:
                passive.score(image, verdict.quality.face)
                good += 1
        loop_s, loop_cpu_s = time.perf_counter() - loop_started, time.process_time() - loop_cpu

    # Latency of frame -> quality -> liveness -> template, on frames that pass the gate (decoding excluded).
    with VideoFileSource(video) as source:
        for frame in source.frames():
            if len(latencies) >= latency_frames:
                break
            image = to_640x480(frame.image)
            t0, c0 = time.perf_counter(), time.process_time()
            verdict = capturer.assess(Frame(image, frame.index, frame.timestamp_s))
            if not verdict.ok or verdict.quality is None:
                continue
            passive.score(image, verdict.quality.face)
            backend.embed(np.ascontiguousarray(image[:, :, ::-1]), verdict.quality.face)
            latencies.append(time.perf_counter() - t0)
            cpu_latencies.append(time.process_time() - c0)

    # First good frame -> sealed envelope.
    recipient = RecipientPrivateKey.generate().public_key()
    device_key, nonce = SigningKey.generate(), os.urandom(32)
    run_started, run_cpu = time.perf_counter(), time.process_time()
    with _ResizedSource(video) as source:
        capture = capturer.run(source)
    payload = CheckinPayload(
        stay_secret=os.urandom(16),
        live=capture.template,
        evidence=capture.evidence(),
        liveness=LivenessEvidence(
            capture.passive.score if capture.passive else None,
            MODEL_NAME if capture.passive else None,
            capture.passive.frames if capture.passive else 0,
            "none",
            True,
            nonce,
        ),
    )
    seal(
        encode_payload(payload),
        recipient=recipient,
        device_key=device_key,
        kiosk_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        nonce=nonce,
    )
    to_envelope_s = time.perf_counter() - run_started - capture.first_good_s
    run_cpu_s = time.process_time() - run_cpu
    run_wall_s = time.perf_counter() - run_started

    return {
        "backend": backend_name,
        "model": backend.model_id,
        "frame_size": f"{WIDTH}x{HEIGHT}",
        "load_s": round(load_s, 3),
        "latency_ms": {
            "frames": len(latencies),
            "median": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "p95": round(_percentile(latencies, 95) * 1000, 1) if latencies else None,
        },
        "latency_cpu_ms": {
            "median": round(statistics.median(cpu_latencies) * 1000, 1) if cpu_latencies else None,
            "p95": round(_percentile(cpu_latencies, 95) * 1000, 1) if cpu_latencies else None,
        },
        "sustained_fps": round(frames_read / loop_s, 2),
        "sustained_fps_cpu": round(frames_read / loop_cpu_s, 2),
        "video_frames": frames_read,
        "good_frames": good,
        "first_good_frame_to_envelope_s": round(to_envelope_s, 3),
        "cpu_share_during_run": round(run_cpu_s / run_wall_s, 2),
        "frames_fused": capture.frames_fused,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _worker(backend_name: str, video: str, latency_frames: int, cpu: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    print(json.dumps(measure(backend_name, Path(video), latency_frames)))


def evict_shared_libraries() -> tuple[int, int]:
    """Drop this environment's shared libraries from the page cache; returns (files, bytes).

    Peak RSS counts every page of OpenCV, onnxruntime, NumPy… the process maps,
    and how much of a library one touch maps depends on how it sits in the page
    cache: right after pip wrote it, ext4 on Linux 6.18 holds it in large folios
    that are mapped whole (OpenCV's library 44 MB resident instead of 17, the
    ONNX kiosk 275 MB instead of 213). Dropped first, the libraries are read
    back from disk as on a kiosk after boot, so every run starts from that
    state. ``fdatasync`` then ``posix_fadvise(DONTNEED)`` need no privileges,
    and only the cache is lost.
    """
    files = size = 0
    for folder in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        for path in Path(folder).rglob("*.so*"):
            if not path.is_file() or path.is_symlink():
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fdatasync(fd)  # pages pip wrote moments ago may not be on disk yet, and dirty ones stay cached
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
            files, size = files + 1, size + path.stat().st_size
    return files, size


def run_backend(backend_name: str, video: Path, latency_frames: int, cpu: int) -> dict[str, Any]:
    """Measure one backend in a fresh child process on one core; an unavailable backend is reported, not fatal."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "lethe.bench.kiosk", backend_name, str(video), str(latency_frames), str(cpu)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return {"backend": backend_name, "unavailable": last[:300]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@click.command("kiosk")
@click.option(
    "--backend",
    "backends",
    multiple=True,
    type=click.Choice(BACKENDS),
    help="Backend(s) to measure [default: every one that loads]. Exits 1 if one named here cannot load "
    "(or, without it, if none can).",
)
@click.option(
    "--video",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"Video to run on [default: $LETHE_DATA_MIRROR/testdata/{DEFAULT_VIDEO}].",
)
@click.option("--latency-frames", type=click.IntRange(5, 1000), default=60, show_default=True)
@click.option("--cpu", type=click.IntRange(0, 1023), default=0, show_default=True, help="The one CPU to pin to.")
@click.option(
    "--warm-cache",
    is_flag=True,
    help="Do not drop the environment's shared libraries from the page cache first (see below).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def kiosk(
    backends: tuple[str, ...], video: Path | None, latency_frames: int, cpu: int, warm_cache: bool, as_json: bool
) -> None:
    """Kiosk latency, sustained frames/s, first good frame to envelope and peak RSS, per backend, on one core.

    Wall-clock numbers, and the same per CPU second (``*_cpu``), which on a shared
    machine show what one free core would do; ``cpu_share_during_run`` says how
    much of the core the process actually got. The onnx backend's embedder is
    LETHE_KIOSK_ONNX_EMBEDDER (dlib-resnet-v1, dlib's ResNet in ONNX, unless set;
    mobilefacenet-112 is the test stand-in).

    Before each backend the environment's shared libraries are dropped from the
    page cache (clean pages only), so peak RSS is measured as a kiosk after boot
    loads them: right after pip has written them the kernel maps them in larger
    pieces and the same run peaks about 60 MB higher (--warm-cache measures
    that state).
    """
    if video is None:
        mirror = os.environ.get("LETHE_DATA_MIRROR")
        if not mirror:
            raise click.UsageError("give --video, or set LETHE_DATA_MIRROR to the folder holding testdata/")
        video = Path(mirror) / "testdata" / DEFAULT_VIDEO
    results = []
    for name in tqdm(backends or BACKENDS, desc="backends", unit="backend", file=sys.stderr):
        files, size = (0, 0) if warm_cache else evict_shared_libraries()
        result = run_backend(name, video, latency_frames, cpu)
        result["page_cache"] = "warm" if warm_cache else f"{files} shared libraries ({size >> 20} MB) dropped"
        results.append(result)
    missing = [r["backend"] for r in results if "unavailable" in r]
    # A backend asked for by name must run; without --backend, at least one must.
    failed = bool(missing) and (bool(backends) or len(missing) == len(results))
    if as_json:
        click.echo(json.dumps({"video": video.name, "results": results}))
    else:
        _print_results(video, cpu, results)
    if failed:
        click.echo(f"not measured: {', '.join(missing)} (see above)", err=True)
        sys.exit(1)


def _print_results(video: Path, cpu: int, results: list[dict[str, Any]]) -> None:
    click.echo(f"{video.name}, {WIDTH}x{HEIGHT}, one core (CPU {cpu})")
    for r in results:
        if "unavailable" in r:
            click.echo(f"  {r['backend']}: not available ({r['unavailable']})")
            continue
        lat = r["latency_ms"]
        click.echo(
            f"  {r['backend']} ({r['model']}): frame->template median {lat['median']} ms, p95 {lat['p95']} ms; "
            f"{r['sustained_fps']} frames/s sustained; first good frame -> envelope "
            f"{r['first_good_frame_to_envelope_s']} s; peak RSS {r['peak_rss_mb']} MB"
        )
        per_cpu = r["latency_cpu_ms"]
        click.echo(
            f"    per CPU second: median {per_cpu['median']} ms, p95 {per_cpu['p95']} ms, "
            f"{r['sustained_fps_cpu']} frames/s; the process got {r['cpu_share_during_run']:.0%} of its core"
        )


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
