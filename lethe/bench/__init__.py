"""``lethe bench``: the speed numbers behind the project's claims, measured on this machine.

Every subcommand prints a Markdown table whose rows give the median, the spread
(p25–p75 and the minimum) and the command that reproduces the row. ``lethe bench all``
runs every subcommand registered on the ``bench`` group, so a new benchmark is one
``bench.add_command(...)`` in ``lethe/cli.py``. Timings on a shared machine are noisy:
read medians and ratios, not single runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from lethe.demo import free_port, lethe_command, running_service

ALL_META_KEY = "lethe.bench.all"


@dataclass(frozen=True)
class Row:
    """One measurement: what, its samples (seconds, or a plain number with ``unit``), how to reproduce it."""

    what: str
    samples: Sequence[float]
    command: str
    unit: str = "s"

    def cells(self) -> list[str]:
        ordered = sorted(self.samples)
        median = _show(statistics.median(ordered), self.unit)
        if len(ordered) == 1:
            spread, least = "—", "—"
        else:
            quartiles = statistics.quantiles(ordered, n=4, method="inclusive")
            spread = f"{_show(quartiles[0], self.unit)} – {_show(quartiles[-1], self.unit)}"
            least = _show(ordered[0], self.unit)
        return [
            self.what,
            median,
            spread,
            least,
            str(len(ordered)),
            f"`{self.command}`",
        ]


def _show(value: float, unit: str) -> str:
    if unit != "s":
        return f"{value:,.0f} {unit}"
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1.0:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def table(rows: Sequence[Row]) -> str:
    """Rows as a Markdown table."""
    lines = [
        "| measurement | median | p25 – p75 | min | n | reproduce |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    """One line describing this machine and the libraries that set the speed."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f", {kib / 2**20:.0f} GiB"
    load = ""
    with contextlib.suppress(OSError):
        load = ", load average {:.1f} {:.1f} {:.1f} at start".format(*os.getloadavg())
    versions = []
    for name in ("cryptography", "dlib-bin", "numpy", "opencv-python-headless", "onnxruntime"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{name} {metadata.version(name)}")
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {', '.join(versions)}{load}"
    )


def emit(title: str, rows: Sequence[Row], notes: str = "") -> None:
    """Print one benchmark's section; outside ``lethe bench all`` also name the machine."""
    click.echo(f"## {title}\n")
    click.echo(table(rows))
    if notes:
        click.echo(f"\n{notes}")
    ctx = click.get_current_context(silent=True)
    if ctx is None or not ctx.meta.get(ALL_META_KEY):
        click.echo(f"\nMachine: {machine()}.")
    click.echo("")


def timed(operation: Callable[[], object], *, samples: int, batch: int) -> list[float]:
    """Seconds per call of ``operation``: ``samples`` batches of ``batch`` calls, after one warm-up batch."""
    for _ in range(batch):
        operation()
    results = []
    for _ in range(samples):
        started = time.perf_counter()
        for _ in range(batch):
            operation()
        results.append((time.perf_counter() - started) / batch)
    return results


@click.group()
def bench() -> None:
    """Measure speed on this machine; each row prints the command that reproduces it.

    Run one benchmark (lethe bench envelope) or all of them in one Markdown report
    (lethe bench all --out bench.md). Numbers on a shared machine are noisy: compare medians.
    """


@bench.command()
@click.option("--samples", default=21, show_default=True, help="Timed batches per operation.")
@click.option("--batch", default=50, show_default=True, help="Calls per batch.")
def envelope(samples: int, batch: int) -> None:
    """Envelope seal and open per HPKE KEM, and Ed25519 sign and verify.

    The payload has a real check-in payload's shape and size: the stay secret, two
    128-d templates (random values) and evidence. Seal = HPKE encrypt + Ed25519 sign; open = parse + verify + decrypt.
    """
    import numpy as np

    from protocol import (
        CheckinPayload,
        RecipientPrivateKey,
        SigningKey,
        Suite,
        Template,
        encode_payload,
        new_master_secret,
        open_envelope,
        parse_envelope,
        seal,
    )

    rng = np.random.default_rng(6)
    payload = encode_payload(
        CheckinPayload(
            stay_secret=new_master_secret(),  # any 16 bytes: the bench only seals and opens
            live=Template.from_embedding("dlib-resnet-v1", rng.normal(size=128)),
            id_template=Template.from_embedding("dlib-resnet-v1", rng.normal(size=128)),
            evidence={"frames_seen": 92, "frames_fused": 5, "capture_s": 3.1, "id_source": "image"},
        )
    )
    device = SigningKey.generate()
    verify_key = device.public_key()
    command = f"lethe bench envelope --samples {samples} --batch {batch}"
    rows = []
    for suite in (Suite.X25519, Suite.MLKEM768_X25519):
        service_key = RecipientPrivateKey.generate(suite)
        recipient = service_key.public_key()

        def sealed(recipient: Any = recipient) -> bytes:
            return seal(
                payload,
                recipient=recipient,
                device_key=device,
                kiosk_id=uuid.UUID(int=1),
                session_id=uuid.UUID(int=2),
                nonce=bytes(32),
            )

        example = sealed()

        def opened(data: bytes = example, keys: Any = (service_key,)) -> bytes:
            return open_envelope(parse_envelope(data), device_key=verify_key, recipient_keys=keys)

        assert opened() == payload
        rows += [
            Row(f"seal, {suite.label}", timed(sealed, samples=samples, batch=batch), command),
            Row(f"open, {suite.label}", timed(opened, samples=samples, batch=batch), command),
            Row(f"envelope size, {suite.label}", [float(len(example))], command, unit="B"),
        ]
    message = bytes(1700)
    signature = device.sign(message)
    rows += [
        Row("Ed25519 sign (1,700 B)", timed(lambda: device.sign(message), samples=samples, batch=batch), command),
        Row(
            "Ed25519 verify (1,700 B)",
            timed(lambda: verify_key.verify(signature, message), samples=samples, batch=batch),
            command,
        ),
    ]
    emit(
        "Envelope seal and open per KEM",
        rows,
        f"Payload {len(payload)} B (stay secret, two 128-d templates, evidence); "
        "times are per call, each sample the mean of one batch.",
    )


@bench.command()
@click.option("--runs", default=5, show_default=True, help="Kiosk runs per mode.")
def e2e(runs: int) -> None:
    """End to end on the Hamilton clip: the real service (gunicorn) and the real kiosk command.

    Starts the service in a temporary instance folder, registers a kiosk, then for each
    run creates a reservation and runs lethe kiosk --json with the guest's portrait.
    Reports the time from the first video frame read to the decision, once with frames
    decoded as fast as the kiosk takes them and once at the video's own pace
    (--realtime, as a camera delivers them), plus the whole command's wall time.
    """
    video, guest = hamilton_media()
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="lethe-bench-") as folder:
        env, api_key, code = provisioned_instance(Path(folder))
        with running_service(env, free_port()) as url:
            env["LETHE_KIOSK_SERVICE_URL"] = url
            subprocess.run(
                lethe_command("kiosk", "register", "--service", url, "--code", code),
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            bar = tqdm(total=2 * runs, desc="kiosk runs", unit="run", file=sys.stderr)
            for realtime in (False, True):
                mode = "camera pace (--realtime)" if realtime else "decoded as fast as taken"
                for _ in range(runs):
                    result, wall = _kiosk_run(env, url, api_key, video, guest, realtime=realtime)
                    bar.update()
                    if result.get("decision") != "accepted":
                        raise click.ClickException(f"the guest was not accepted: {json.dumps(result)}")
                    samples.setdefault(f"first frame → decision, {mode}", []).append(result["seconds_from_first_frame"])
                    samples.setdefault(f"command start → decision, {mode}", []).append(result["seconds_to_decision"])
                    samples.setdefault(f"`lethe kiosk` process wall time, {mode}", []).append(wall)
            bar.close()
    command = f"lethe bench e2e --runs {runs}"
    emit(
        "Check-in end to end (Hamilton clip, dlib, ML-KEM-768+X25519)",
        [Row(what, values, command) for what, values in samples.items()],
        "The clip shows no usable face for its first 2.8 s of video; first frame → decision "
        "includes reading past them. Command start → decision adds loading the models "
        "and templating the ID portrait (3 jitters); the wall time adds starting Python.",
    )


def hamilton_media() -> tuple[Path, Path]:
    """The recorded Hamilton clip and the guest's ID portrait (the sample media), or a clear error."""
    from models import MediaError, media_path

    try:
        return media_path("hamilton-clip"), media_path("lin-manuel-miranda")
    except MediaError as exc:
        raise click.ClickException(str(exc)) from None


def provisioned_instance(instance: Path) -> tuple[dict[str, str], str, str]:
    """Migrate a fresh instance, create a PMS key and a kiosk enrolment code; return (env, key, code)."""
    from service.checkin.kiosks import create_enrolment_code
    from service.cli.common import load_service_settings, open_database, prepare
    from service.stays.integrations import create_integration

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LETHE_") or k in ("LETHE_DATA_MIRROR", "LETHE_MODEL_DIR", "LETHE_MODEL_MIRROR")
    }
    env |= {"LETHE_INSTANCE_PATH": str(instance), "LETHE_KIOSK_KEY_FILE": str(instance / "kiosk" / "kiosk.json")}
    settings = load_service_settings(instance_path=instance, database_url="", key_dir=None)
    prepare(settings)
    database = open_database(settings)
    now = dt.datetime.now(dt.UTC)
    with database.transaction() as session:
        api_key = create_integration(session, name="bench-pms", actor="bench")
        code = create_enrolment_code(session, kiosk_name="Bench kiosk", ttl_s=300, actor="bench", now=now).code
    database.dispose()
    return env, api_key, code


def _kiosk_run(
    env: dict[str, str], url: str, api_key: str, video: Path, guest: Path, *, realtime: bool
) -> tuple[dict[str, Any], float]:
    import requests

    today = dt.date.today()
    answer = requests.post(
        f"{url}/pms/v1/reservations",
        json={
            "guest_name": "Bench guest",
            "arrival": today.isoformat(),
            "departure": (today + dt.timedelta(days=1)).isoformat(),
        },
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )
    answer.raise_for_status()
    args = [
        "kiosk",
        "--consent-accepted",
        "--source",
        str(video),
        "--id-image",
        str(guest),
        "--booking",
        answer.json()["booking_code"],
    ]
    started = time.monotonic()
    done = subprocess.run(
        lethe_command(*args, "--json", *(["--realtime"] if realtime else [])),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - started
    try:
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise click.ClickException(f"the kiosk failed:\n{done.stderr}") from None
    return result, wall


@bench.command("all")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report (Markdown) to this file.",
)
@click.option("--only", multiple=True, metavar="NAME", help="Run only this benchmark (repeatable).")
@click.pass_context
def all_benchmarks(ctx: click.Context, out: Path | None, only: tuple[str, ...]) -> None:
    """Run every benchmark with its defaults and print one Markdown report."""
    unknown = sorted(set(only) - set(bench.commands))
    if unknown:
        raise click.UsageError(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(sorted(bench.commands))}"
        )
    ctx.meta[ALL_META_KEY] = True
    started = dt.datetime.now(dt.UTC)
    header = (
        f"# Lethe benchmarks, {started:%Y-%m-%d %H:%M} UTC\n\n"
        f"Machine: {machine()}.\n\nCommand: `lethe bench all{''.join(f' --only {n}' for n in only)}`; "
        "each row names the command that reproduces it.\n"
    )
    parts = [header]
    click.echo(header)
    chosen = [(n, c) for n, c in sorted(bench.commands.items()) if c is not ctx.command and (not only or n in only)]
    bar = tqdm(chosen, desc="benchmarks", unit="benchmark", file=sys.stderr)
    for name, command in bar:
        bar.set_postfix_str(name)
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            ctx.invoke(command)
        section = captured.getvalue()
        click.echo(section, nl=False)
        parts.append(section if section.lstrip().startswith("#") else f"## lethe bench {name}\n\n{section}")
    if out is not None:
        out.write_text("\n".join(parts))
        click.echo(f"report written to {out}", err=True)
