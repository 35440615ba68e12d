"""A real service process on a loopback port and the real ``lethe`` commands, on recorded media.

``tests/conftest.py`` turns these into fixtures: ``deployment`` (one service for the
session, SQLite, a registered kiosk, a PMS key), ``checkin`` (a kiosk run recorded in
the suite's report, ``LETHE_TEST_INTEGRATION_REPORT``) and ``portrait_from_video``;
``tests/integration/conftest.py`` adds ``crashable_deployment``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click
import requests
from sqlalchemy import func, select

from lethe.demo import free_port, lethe_command, wait_until_healthy
from service.storage.audit import verify_chain
from service.storage.db import Database
from service.storage.tables import CheckinAttempt, CheckinSession, Stay, StayKey, StoredTemplate

REPORT_ENV = "LETHE_TEST_INTEGRATION_REPORT"


@dataclass
class StayState:
    """What the database holds for one stay (counts only; templates are ciphertext anyway)."""

    status: str
    templates: int
    data_keys: int
    attempts: int
    sessions: dict[str, int]
    consent: list[tuple[str | None, int | None]] = field(default_factory=list)


@dataclass
class Deployment:
    url: str
    env: dict[str, str]
    instance: Path
    api_key: str

    def lethe(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            lethe_command(*args), env=self.env | (env or {}), capture_output=True, text=True, check=check, timeout=300
        )

    def reservation(self, guest: str = "Lin-Manuel Miranda") -> dict[str, Any]:
        today = dt.date.today()
        answer = requests.post(
            f"{self.url}/pms/v1/reservations",
            json={
                "guest_name": guest,
                "arrival": today.isoformat(),
                "departure": (today + dt.timedelta(days=1)).isoformat(),
            },
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=10,
        )
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def liveness_policy(self, **fields: Any) -> None:
        """Set the property's liveness policy straight in the service's database."""
        from service import property as prop
        from service.cli.common import load_service_settings, open_database

        database = open_database(
            load_service_settings(
                instance_path=self.instance, database_url=self.env.get("LETHE_DATABASE_URL", ""), key_dir=None
            )
        )
        try:
            with database.transaction() as session:
                prop.save(session, prop.Liveness(**fields), actor="test")
        finally:
            database.dispose()

    def checkout(self, reference: str) -> requests.Response:
        return requests.post(
            f"{self.url}/pms/v1/reservations/{reference}/checkout",
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=10,
        )

    def kiosk(
        self,
        source: Path,
        id_image: Path | None,
        booking: str,
        *,
        env: dict[str, str] | None = None,
        realtime: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """``lethe kiosk --json``; without ``id_image`` no ID is given: a re-verification of a checked-in guest."""
        args = [
            "kiosk",
            "--consent-accepted",
            "--source",
            str(source),
            *(["--id-image", str(id_image)] if id_image is not None else []),
            "--booking",
            booking,
            "--json",
        ]
        done = subprocess.run(
            lethe_command(*args, *(["--realtime"] if realtime else [])),
            env=self.env | (env or {}),
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        lines = done.stdout.strip().splitlines()
        assert lines, done.stderr
        return done.returncode, json.loads(lines[-1])

    def database(self) -> Database:
        """The service's own database: ``LETHE_DATABASE_URL``, or SQLite in the instance folder."""
        return Database(self.env.get("LETHE_DATABASE_URL") or f"sqlite:///{self.instance / 'lethe.sqlite3'}")

    def audit_chain_intact(self) -> bool:
        database = self.database()
        try:
            with database.transaction() as session:
                return verify_chain(session).ok
        finally:
            database.dispose()

    def stay_state(self, reference: str) -> StayState:
        """Read the stay's rows straight from the service's database."""
        database = self.database()
        try:
            with database.transaction() as session:
                stay = session.scalars(select(Stay).where(Stay.reference == reference)).one()

                def count(model: Any) -> int:
                    return int(session.scalar(select(func.count()).select_from(model).where(model.stay_id == stay.id)))

                sessions = session.execute(
                    select(CheckinSession.status, func.count())
                    .where(CheckinSession.stay_id == stay.id)
                    .group_by(CheckinSession.status)
                ).all()
                return StayState(
                    status=stay.status,
                    templates=count(StoredTemplate),
                    data_keys=count(StayKey),
                    attempts=count(CheckinAttempt),
                    sessions={status: int(n) for status, n in sessions},
                    consent=[
                        (row.consent, row.consent_version)
                        for row in session.execute(
                            select(CheckinSession.consent, CheckinSession.consent_version)
                            .where(CheckinSession.stay_id == stay.id)
                            .order_by(CheckinSession.created_at)
                        )
                    ],
                )
        finally:
            database.dispose()


@dataclass
class ScreenRun:
    """A ``lethe kiosk screen`` process for one booking, on the recorded Hamilton clip; see :func:`screen_command`."""

    process: subprocess.Popen[str]
    url: str

    def wait_for(self, screen: str, timeout: float = 120) -> None:
        """Poll the page's ``/state`` until it shows ``screen`` (the process may still be starting)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/state", timeout=5).json()["screen"] == screen:
                    return
            except requests.RequestException:  # not up yet, or a busy machine
                pass
            time.sleep(0.2)
        raise AssertionError(f"the guest screen did not reach {screen!r} in {timeout} s")

    def press(self, action: str) -> None:
        """Press ``answer/check-in`` (or another button) as the page would, the run going on."""
        assert requests.post(f"{self.url}/{action}", timeout=5).json() == {"ok": True}

    def choose(self, action: str) -> tuple[str, str]:
        """Press ``answer/accept`` or ``front-desk`` as the page would; return the process's stdout and stderr."""
        assert requests.post(f"{self.url}/{action}", timeout=5).json() == {"ok": True}
        out, err = self.process.communicate(timeout=120)
        return out, err


@contextlib.contextmanager
def screen_command(deployment: Deployment, testdata: Path, booking: str, folder: Path) -> Iterator[ScreenRun]:
    """Run ``lethe kiosk screen`` for ``booking`` (its QR rendered into ``folder``); killed if still running after."""
    from lethe.booking import render_qr

    qr = folder / "booking.png"
    qr.write_bytes(render_qr(booking, "png"))
    port = free_port()
    # The with block closes the pipes however the test ends (no ResourceWarning leaks into the next test).
    with subprocess.Popen(
        lethe_command(
            "kiosk", "screen", "--port", str(port), "--result-seconds", "0", "--booking-source", str(qr),
            "--source", str(testdata / "video/short_hamilton_clip.mp4"),
            "--id-image", str(testdata / "faces/face_recognition/misc/lin-manuel-miranda.png"),
        ),
        env=deployment.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        try:
            yield ScreenRun(process, f"http://127.0.0.1:{port}")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def service_env(instance: Path, data_mirror: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LETHE_")}
    return env | {
        "LETHE_INSTANCE_PATH": str(instance),
        "LETHE_DATA_MIRROR": str(data_mirror),
        "LETHE_KIOSK_KEY_FILE": str(instance / "kiosk" / "kiosk.json"),
    }


def provision(url: str, env: dict[str, str], instance: Path) -> Deployment:
    """Create a PMS integration and register the kiosk; return the ready deployment."""
    env["LETHE_KIOSK_SERVICE_URL"] = url
    probe = Deployment(url, env, instance, "")
    api_key = probe.lethe("integration", "create", "test-pms").stdout.strip()
    code = probe.lethe("device", "code", "--name", "Lobby 1").stdout.split()[0]
    probe.lethe("kiosk", "register", "--service", url, "--code", code)
    deployment = Deployment(url, env, instance, api_key)
    # Recorded video cannot perform a challenge drawn at random: the documented try-out policy, passive only,
    # unless a test says otherwise.
    assert "passive only (demo)" in deployment.lethe("property", "liveness", "--demo-passive-only").stdout
    return deployment


class ServiceProcess:
    """``lethe serve`` in a process group of its own, so a test can crash it as a power cut would."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[str] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None

    def start(self) -> None:
        # The service's log (no personal data) goes to an anonymous temporary file, not a pipe.
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in kill()/stop()
        self._process = subprocess.Popen(
            lethe_command("serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "2"),
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            start_new_session=True,
        )
        try:
            wait_until_healthy(self._process, self.url, self._log)
        except click.ClickException:
            self.kill()
            raise

    def log_text(self) -> str:
        """Everything the service has logged so far."""
        assert self._log is not None
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def workers(self) -> set[int]:
        """The gunicorn workers' process ids (the master's children, from /proc)."""
        assert self._process is not None
        pid = self._process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return {int(child) for child in children}

    def kill(self) -> None:
        """SIGKILL the gunicorn master and its workers at once; nothing gets to clean up."""
        if self._process is None:
            return
        os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._process = None
        if self._log is not None:
            self._log.close()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self._process = None
        if self._log is not None:
            self._log.close()


@dataclass
class CrashableDeployment(Deployment):
    service: ServiceProcess = field(repr=False)


@dataclass
class KioskRun:
    status: int
    answer: dict[str, Any]
    wall_s: float

    @property
    def decision(self) -> str | None:
        return self.answer.get("decision")

    @property
    def error(self) -> dict[str, Any]:
        error: dict[str, Any] = self.answer.get("error", {})
        return error


class Report:
    """One JSON object per kiosk run of the suite, appended to ``LETHE_TEST_INTEGRATION_REPORT`` when set."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    def record(self, entry: dict[str, Any]) -> None:
        if self.path is not None:
            with self.path.open("a") as out:
                out.write(json.dumps(entry) + "\n")


Checkin = Callable[..., KioskRun]


def _relative(path: Path, testdata: Path) -> str:
    try:
        return str(path.relative_to(testdata))
    except ValueError:
        return f"(made in the test) {path.name}"


@dataclass(frozen=True)
class Portrait:
    """An ID photo cut from a video: where it is, and the video time it was taken from."""

    path: Path
    timestamp_s: float
    frame_rate: float


MIN_PORTRAIT_FACE_PX = 100
MIN_PORTRAIT_SHARPNESS = 30.0


def run_kiosk(
    report: Report,
    test: str,
    testdata: Path,
    deployment: Deployment,
    case: str,
    source: Path,
    id_image: Path,
    booking: str,
    *,
    env: dict[str, str] | None = None,
    realtime: bool = False,
) -> KioskRun:
    """Run the kiosk on ``source`` with ``id_image`` and record the outcome under ``case`` in ``report``."""
    started = time.monotonic()
    status, answer = deployment.kiosk(source, id_image, booking, env=env, realtime=realtime)
    run = KioskRun(status, answer, time.monotonic() - started)
    keys = ("decision", "reason", "score", "threshold", "model", "frames_seen", "frames_fused")
    report.record(
        {
            "test": test,
            "case": case,
            "video": _relative(source, testdata),
            "id_photo": _relative(id_image, testdata),
            "exit_status": status,
            **{k: answer[k] for k in keys if k in answer},
            "error": answer.get("error", {}).get("code"),
            "seconds_to_decision": answer.get("seconds_to_decision"),
            "seconds_from_first_frame": answer.get("seconds_from_first_frame"),
            "wall_s": round(run.wall_s, 3),
        }
    )
    return run


def cut_portrait(backend: Any, folder: Path, video: Path, *, start: float = 2 / 3) -> Portrait:
    """Cut an ID photo from the last part of a video, away from the frames the kiosk reads first.

    From ``start`` (a fraction of the video's length) on, the first frame in which HOG finds
    exactly one face at least 100 px wide, with a sharpness (variance of the Laplacian of the
    grey face) of at least 30, is cropped around the face with a 60% margin, like a passport
    photo, and saved as PNG in ``folder``. Nothing goes into the project.
    """
    import cv2
    import numpy as np

    capture = cv2.VideoCapture(str(video))
    try:
        fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
        first = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) * start)
        capture.set(cv2.CAP_PROP_POS_FRAMES, first)
        index = first
        while True:
            ok, image = capture.read()
            if not ok:
                raise AssertionError(f"no usable portrait in {video.name} after {start:.0%} of it")
            faces = backend.detect(np.ascontiguousarray(image[:, :, ::-1]), upsample=0)
            if len(faces) == 1 and faces[0].width >= MIN_PORTRAIT_FACE_PX:
                face = faces[0]
                grey = cv2.cvtColor(image[face.top : face.bottom, face.left : face.right], cv2.COLOR_BGR2GRAY)
                if cv2.Laplacian(grey, cv2.CV_64F).var() >= MIN_PORTRAIT_SHARPNESS:
                    break
            index += 1
    finally:
        capture.release()
    margin = int(0.6 * face.width)
    height, width = image.shape[:2]
    crop = image[
        max(0, face.top - margin) : min(height, face.bottom + margin),
        max(0, face.left - margin) : min(width, face.right + margin),
    ]
    path = folder / f"{video.parent.name}-{video.stem}-{index}.png"
    cv2.imwrite(str(path), crop)
    return Portrait(path, index / fps, fps)
