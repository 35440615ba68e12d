"""Privacy promises of the kiosk, checked on a real run against the real service.

The kiosk command runs in a child process with an audit hook (every Python-level
socket connection and every file opened for writing is recorded) and with an
empty working folder, an empty HOME and an empty TMPDIR, whose contents are
compared afterwards (this also catches files written by native code: OpenCV,
dlib, onnxruntime). What it cannot see: sockets opened by native code, and
writes outside the folders snapshotted; those libraries are used here for
decoding and inference only.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from tests.helpers.deployment import Deployment

MISC = "faces/face_recognition/misc"
WATCHER = r"""
import json, os, sys

recorded = {"connect": [], "write": []}
recording = True


def hook(event, args):
    if not recording:
        return
    if event == "socket.connect":
        recorded["connect"].append(list(args[1]) if isinstance(args[1], tuple) else [str(args[1])])
    elif event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        if writing:
            recorded["write"].append(str(path))
    elif event in {"os.rename", "os.replace", "os.mkdir", "shutil.copyfile", "os.truncate"}:
        recorded["write"].append(str(args[0]))


def dump():
    global recording
    recording = False
    with open(sys.argv[1], "w") as f:
        json.dump(recorded, f)


sys.addaudithook(hook)
import atexit

atexit.register(dump)
from lethe.cli import main

main(args=sys.argv[2:], prog_name="lethe")
"""


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_kiosk_run_writes_nothing_logs_no_biometrics_and_talks_only_to_the_service(
    deployment: Deployment, testdata: Path, tmp_path: Path
) -> None:
    booking = deployment.reservation()["booking_code"]
    work, home, tmp = (tmp_path / name for name in ("work", "home", "tmp"))
    for folder in (work, home, tmp):
        folder.mkdir()
    key_folder = deployment.instance / "kiosk"
    key_before = tree(key_folder)
    audit_file = tmp_path / "audit.json"
    # The models were installed before (as a kiosk's are, at setup): the run itself may write nothing.
    from models.registry import default_cache_dir

    models = {"LETHE_MODEL_DIR": str(default_cache_dir())}
    env = deployment.env | models | {"HOME": str(home), "TMPDIR": str(tmp), "LETHE_KIOSK_SERVICE_URL": deployment.url}
    done = subprocess.run(
        [
            sys.executable, "-c", WATCHER, str(audit_file),
            "kiosk",
            "--consent-accepted",
            "--source", str(testdata / "video/short_hamilton_clip.mp4"),
            "--id-image", str(testdata / MISC / "lin-manuel-miranda.png"),
            "--booking", booking,
        ],
        cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ACCEPTED" in done.stdout
    recorded = json.loads(audit_file.read_text())

    # Nothing written: not by Python code anywhere, not by anything in these folders.
    assert recorded["write"] == []
    assert tree(work) == []
    assert tree(home) == []
    assert tree(tmp) == []
    assert tree(key_folder) == key_before == ["kiosk.json"]

    # The only network peer is the configured service.
    service = urlsplit(deployment.url)
    peers = {tuple(c) for c in recorded["connect"]}
    assert peers == {(service.hostname, service.port)}

    # What the kiosk printed (its whole log) holds no image, crop, template or score vector.
    output = done.stdout + done.stderr
    assert len(output) < 4000
    assert not re.search(r"[A-Za-z0-9+/=_-]{80,}", output)  # no base64 blob
    assert not re.search(r"(-?\d+\.\d+[,\s]+){16,}", output)  # no run of numbers like a vector
    assert booking.split(".")[-1] not in output  # nor the stay secret
