"""The kiosk on aarch64, under emulation: installed as a Pi owner installs it, then run against this host.

    sudo .venv/bin/python hardware/aarch64/check.py [--root DIR] [--frames N]

Needs root (debootstrap, chroot, bind mounts) on a Debian x86-64 host with
access to Debian's and PyPI's package archives, and LETHE_DATA_MIRROR (the
recorded clip and the model mirror). Steps, each timed:

1. a Debian bookworm arm64 root (``debootstrap --arch=arm64``, run by
   ``qemu-aarch64-static`` through ``binfmt_misc``), kept in ``--root`` and
   reused by later runs (default /var/lib/lethe-aarch64/root); the host's CA bundle and DNS settings copied in;
2. this checkout copied to ``/opt/lethe`` in it and ``hardware/install.sh
   --no-screen --mirror`` run there, exactly as hardware/README.md tells a Pi
   owner. Two detours, for this machine only: the model mirror stands in for
   downloads from GitHub (unreachable here), and pip in the root installs from
   a folder of the aarch64 wheels the host downloaded first, the same files pip
   would fetch (under emulation TLS is so slow that the package archive resets
   the root's connections);
3. ``lethe models verify`` as the kiosk user;
4. the ONNX pipeline (``hardware/aarch64/templates.py``) on the first
   ``--frames`` frames of the recorded webcam clip, in the root and natively:
   the templates fused from those frames (what a kiosk sends) must agree to a
   cosine ≥ 0.999 and no single frame's below 0.995 (the detector's arithmetic
   differs in the last bits between NEON and AVX-512, and dlib's landmark
   trees turn that into a pixel here and there);
5. a service started here (``lethe serve`` on loopback, passive-only liveness,
   a long session lifetime for the emulated kiosk), a kiosk registered from the
   root, and a headless ``lethe kiosk --backend onnx`` run in the root on the
   same clip with an ID photo cut from its end: it must be accepted.

Emulation is some hundred times slower than the hardware: the times say
nothing about a Raspberry Pi (hardware/README.md estimates one). Exit status 0
when every check passes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parents[1]
PREFIX = "/opt/lethe"
CLIP = "video/live_vs_replay_a/live.mov"
AGREEMENT = 0.999  # the fused template's cosine (what a kiosk sends), and no single frame below FRAME_AGREEMENT
FRAME_AGREEMENT = 0.995
INCLUDE = "python3,python3-venv,python3-pip,ca-certificates,systemd"  # systemd: as on Raspberry Pi OS


def say(message: str) -> None:
    print(message, flush=True)


def run(*command: str, **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, text=True, **({"check": True} | options))


@contextmanager
def step(name: str, timings: dict[str, float]) -> Iterator[None]:
    say(f"== {name}")
    started = time.monotonic()
    yield
    timings[name] = round(time.monotonic() - started, 1)
    say(f"   {timings[name]} s")


def make_root(root: Path) -> None:
    """A bookworm arm64 root (kept between runs), with binfmt_misc ready for qemu-aarch64-static."""
    missing = [tool for tool in ("debootstrap", "qemu-aarch64-static", "update-binfmts") if not shutil.which(tool)]
    if missing:
        run("apt-get", "install", "-y", "-q", "--no-install-recommends", "debootstrap", "qemu-user-static",
            "binfmt-support")  # fmt: skip
    if not Path("/proc/sys/fs/binfmt_misc/register").exists():
        run("mount", "-t", "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc")
    run("update-binfmts", "--enable", "qemu-aarch64")
    if not (root / "usr/bin/python3").exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        run("debootstrap", "--arch=arm64", "--variant=minbase", f"--include={INCLUDE}", "bookworm", str(root))
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    if not (root / "usr/bin/systemd-tmpfiles").exists():  # a root made before systemd was included
        run("chroot", str(root), "apt-get", "install", "-y", "-q", "--no-install-recommends", "systemd")


@contextmanager
def mounted(root: Path, mirror: Path, wheels: Path) -> Iterator[None]:
    """/proc and /dev bound into the root, the mirror and wheels read-only.

    Not /sys: there onnxruntime's cpuinfo finds the x86 host's CPU description
    and, under qemu 7.2, crashes the process at import. Without it, it warns on
    stderr that it cannot tell the CPU and uses its generic ARM kernels.
    """
    binds = [("/proc", "proc"), ("/dev", "dev")]
    binds += [(str(mirror), "mnt/mirror"), (str(wheels), "mnt/wheels")]
    done: list[Path] = []
    try:
        for source, target in binds:
            path = root / target
            path.mkdir(parents=True, exist_ok=True)
            run("mount", "--bind", source, str(path))
            done.append(path)
            if target.startswith("mnt/"):
                run("mount", "-o", "remount,bind,ro", str(path))
        yield
    finally:
        for path in reversed(done):
            subprocess.run(["umount", "-l", str(path)], check=False)


def in_root(root: Path, *command: str, user: str | None = None, **options: Any) -> subprocess.CompletedProcess[str]:
    env = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]
    env += ["PIP_NO_INDEX=1", "PIP_FIND_LINKS=/mnt/wheels"]
    if user:
        env += ["HOME=/var/lib/lethe-kiosk", "LETHE_MODEL_DIR=/var/lib/lethe-kiosk/models"]
        return run("chroot", str(root), "runuser", "-u", user, "--", *env, *command, **options)
    return run("chroot", str(root), *env, *command, **options)


def download_wheels(folder: Path) -> None:
    """The project's dependencies as cp311 aarch64 wheels (and its build tools), into ``folder`` (kept)."""
    import tomllib

    from models.artifacts import WHEEL_PLATFORM

    project = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())
    wanted = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["kiosk"],  # install.sh installs lethe-checkin[kiosk]
        *project["build-system"]["requires"],
        "pip",
        "wheel",
    ]
    # redis needs it below Python 3.11.3 (bookworm has 3.11.2); pip reads --python-version as 3.11 for that marker.
    wanted.append("async-timeout>=4.0.3")
    sdists = [w for w in wanted if w.startswith("face_recognition_models")]  # published as a source package only
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(folder)]
    aarch64 = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
               "--abi", "abi3", "--abi", "none"]  # fmt: skip
    for glibc in range(17, 37):  # pip takes the platforms given literally; bookworm has glibc 2.36
        aarch64 += ["--platform", f"manylinux_2_{glibc}_aarch64"]
    run(*pip, *aarch64, *[w for w in wanted if w not in sdists])
    run(*pip, "--no-deps", "--no-binary=:all:", *sdists)
    run(*pip, "--no-deps", "--only-binary=:all:", *WHEEL_PLATFORM, "mediapipe==0.10.14")  # the landmark model's


def templates(command: list[str], video: str, frames: int) -> dict[str, Any]:
    """Run templates.py (``command`` ends with it) on the first ``frames`` frames of ``video``."""
    result: dict[str, Any] = json.loads(run(*command, video, "--count", str(frames), capture_output=True).stdout)
    return result


def compare(native: dict[str, Any], emulated: dict[str, Any]) -> dict[str, Any]:
    ours = {t["frame"]: np.array(t["template"]) for t in native["templates"]}
    theirs = {t["frame"]: np.array(t["template"]) for t in emulated["templates"]}
    common = sorted(set(ours) & set(theirs))
    cosines = [float(ours[i] @ theirs[i]) for i in common]
    fused = [np.mean([side[i] for i in common], axis=0) for side in (ours, theirs)]
    fused_cosine = float(fused[0] @ fused[1] / (np.linalg.norm(fused[0]) * np.linalg.norm(fused[1]))) if common else 0.0
    return {
        "frames_native": len(ours),
        "frames_aarch64": len(theirs),
        "frames_compared": len(common),
        "min_cosine": round(min(cosines), 6) if cosines else None,
        "median_cosine": round(float(np.median(cosines)), 6) if cosines else None,
        "fused_cosine": round(fused_cosine, 6),
        "models": [native["model"], emulated["model"]],
        "ok": bool(common)
        and set(ours) == set(theirs)
        and fused_cosine >= AGREEMENT
        and min(cosines) >= FRAME_AGREEMENT,
    }


def kiosk_run(root: Path, testdata: Path, frames: int) -> dict[str, Any]:
    """A service here, a kiosk in the root registered with it, one check-in on the clip over loopback."""
    import requests

    from lethe.bench import provisioned_instance
    from lethe.demo import free_port, running_service
    from service import property as prop
    from service.cli import load_service_settings, open_database

    reader = cv2.VideoCapture(str(testdata / CLIP))
    reader.set(cv2.CAP_PROP_POS_FRAMES, int(reader.get(cv2.CAP_PROP_FRAME_COUNT)) - 15)
    ok, frame = reader.read()
    reader.release()
    if not ok:
        raise SystemExit(f"cannot read {CLIP}")
    # A frame of public test media, as a desk scan would be, where the kiosk user can read it.
    cv2.imwrite(str(root / "var/lib/lethe-kiosk/id-photo.png"), frame)
    with tempfile.TemporaryDirectory(prefix="lethe-aarch64-service-") as instance:
        env, api_key, code = provisioned_instance(Path(instance))
        env["LETHE_SESSION_TTL_S"] = "3600"  # the emulated kiosk takes minutes from session to envelope
        database = open_database(load_service_settings(instance_path=Path(instance), database_url="", key_dir=None))
        with database.transaction() as session:
            # A recorded video cannot perform a challenge drawn at random: passive liveness only.
            prop.save(session, prop.Liveness(require_challenge=False), actor="aarch64-check")
        database.dispose()
        with running_service(env, free_port()) as url:
            lethe = f"{PREFIX}/.venv/bin/lethe"
            in_root(root, lethe, "kiosk", "register", "--service", url, "--code", code, user="lethe-kiosk",
                    capture_output=True)  # fmt: skip
            today = dt.date.today()
            answer = requests.post(
                f"{url}/pms/v1/reservations",
                json={"guest_name": "Webcam Guest", "arrival": today.isoformat(),
                      "departure": (today + dt.timedelta(days=1)).isoformat()},
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=10,
            )  # fmt: skip
            answer.raise_for_status()
            done = in_root(
                root, "env", f"LETHE_KIOSK_CANDIDATES={frames}", f"LETHE_KIOSK_FRAMES_TO_FUSE={frames}",
                lethe, "kiosk", "--service", url, "--consent-accepted", "--backend", "onnx",
                "--source", f"/mnt/mirror/testdata/{CLIP}",
                "--id-image", "/var/lib/lethe-kiosk/id-photo.png", "--booking", answer.json()["booking_code"], "--json",
                user="lethe-kiosk", capture_output=True, check=False,
            )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    if not lines:
        return {"ok": False, "stderr": done.stderr[-2000:]}
    result: dict[str, Any] = json.loads(lines[-1])
    result["ok"] = done.returncode == 0 and result.get("decision") == "accepted"
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/var/lib/lethe-aarch64/root"), help="the arm64 root")
    parser.add_argument("--frames", type=int, default=3, help="frames templated and fused (the shortest proof)")
    parser.add_argument("--installed", action="store_true", help="skip step 2: the root has the kiosk installed")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("check.py needs root (debootstrap, chroot, mount)")
    mirror = Path(os.environ.get("LETHE_DATA_MIRROR") or CHECKOUT.parent / "shared")
    if not (mirror / "testdata" / CLIP).is_file():
        raise SystemExit(f"no {CLIP} under {mirror}/testdata: set LETHE_DATA_MIRROR")
    timings: dict[str, float] = {}
    report: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    started = time.monotonic()
    wheels = args.root.parent / "wheels"
    with step("arm64 root (debootstrap, kept between runs) and aarch64 wheels", timings):
        make_root(args.root)
        wheels.mkdir(exist_ok=True)
        download_wheels(wheels)
    with mounted(args.root, mirror, wheels):
        with step("install as hardware/README.md says (hardware/install.sh --no-screen)", timings):
            if args.installed:
                say("   skipped (--installed)")
            else:
                target = args.root / PREFIX.lstrip("/")
                target.mkdir(parents=True, exist_ok=True)
                archive = subprocess.run(
                    ["tar", "-C", str(CHECKOUT), "--exclude=./.venv", "--exclude=./instance", "--exclude=./.git",
                     "-cf", "-", "."], check=True, capture_output=True,
                )  # fmt: skip
                subprocess.run(["tar", "-C", str(target), "-xf", "-"], input=archive.stdout, check=True)
                in_root(args.root, f"{PREFIX}/hardware/install.sh", "--no-screen", "--mirror", "/mnt/mirror/models")
        with step("lethe models verify", timings):
            verified = in_root(args.root, f"{PREFIX}/.venv/bin/lethe", "models", "verify", user="lethe-kiosk",
                               capture_output=True, check=False)  # fmt: skip
            say(verified.stdout.rstrip())
            report["models_verify"] = verified.returncode == 0 or _only_unused_missing(verified.stdout)
        with step(f"ONNX pipeline on the first {args.frames * 5} frames of {CLIP}: aarch64 against x86-64", timings):
            count = args.frames * 5
            native = templates([sys.executable, str(HERE / "templates.py")], str(mirror / "testdata" / CLIP), count)
            emulated = templates(
                ["chroot", str(args.root), "runuser", "-u", "lethe-kiosk", "--", "env", "-i",
                 "HOME=/var/lib/lethe-kiosk", "LETHE_MODEL_DIR=/var/lib/lethe-kiosk/models",
                 f"{PREFIX}/.venv/bin/python", f"{PREFIX}/hardware/aarch64/templates.py"],
                f"/mnt/mirror/testdata/{CLIP}", count,
            )  # fmt: skip
            report["templates"] = compare(native, emulated)
            say(f"   {report['templates']}")
        with step("headless lethe kiosk (aarch64) against lethe serve (x86-64) over loopback", timings):
            report["kiosk"] = kiosk_run(args.root, mirror / "testdata", args.frames)
            say(f"   {json.dumps(report['kiosk'])}")
    report["seconds"] = timings | {"total": round(time.monotonic() - started, 1)}
    report["machine"] = platform_line(args.root)
    ok = report["models_verify"] and report["templates"]["ok"] and report["kiosk"]["ok"]
    report["ok"] = ok
    say("== result\n" + json.dumps(report, indent=2))
    return 0 if ok else 1


def _only_unused_missing(listing: str) -> bool:
    """``lethe models verify`` of every model: only models the kiosk does not load may be missing."""
    unused = ("mobilefacenet-112", "dlib-mmod-detector", "dlib-shape-predictor-68")
    missing = [line.split()[1].rstrip(":") for line in listing.splitlines() if line.startswith("MISSING")]
    return all(name in unused for name in missing)


def platform_line(root: Path) -> str:
    emulated = run("chroot", str(root), "uname", "-m", capture_output=True).stdout.strip()
    qemu = run("qemu-aarch64-static", "--version", capture_output=True).stdout.splitlines()[0]
    return f"host {os.uname().machine}, {os.cpu_count()} cores; root {emulated} under {qemu}"


if __name__ == "__main__":
    sys.exit(main())
