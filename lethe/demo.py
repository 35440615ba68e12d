"""``lethe demo``: the whole check-in on one machine, with real processes and recorded video.

Starts the service on loopback (gunicorn, SQLite, keys made on first start),
registers a kiosk, creates a reservation, runs the kiosk command on the Hamilton
clip with the guest's ID photo (accepted) and with another person's (rejected),
checks the guest out and verifies the deletion receipt offline.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

SERVICE_START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def lethe_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "lethe", *args]


@contextmanager
def running_service(env: dict[str, str], port: int, *, workers: int = 2) -> Iterator[str]:
    """Run ``lethe serve`` as a child process until the block ends; yield its base URL."""
    url = f"http://127.0.0.1:{port}"
    # The service's own log goes to an anonymous temporary file (it holds no personal data),
    # never to a pipe nobody reads, which would stall the service once full.
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            lethe_command("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            wait_until_healthy(process, url, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_healthy(process: subprocess.Popen[bytes], url: str, log: IO[str]) -> None:
    import requests

    deadline = time.monotonic() + SERVICE_START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise click.ClickException(f"the service exited at start:\n{log.read()}")
        try:
            if requests.get(url + "/healthz", timeout=5).ok:
                return
        except requests.RequestException:  # not listening yet, or too busy starting to answer
            pass
        if time.monotonic() > deadline:
            raise click.ClickException("the service did not start in time")
        time.sleep(0.2)


def _kiosk(env: dict[str, str], url: str, video: Path, id_image: Path, booking: str) -> dict[str, Any]:
    completed = subprocess.run(
        lethe_command(
            "kiosk",
            "--consent-accepted",
            "--service",
            url,
            "--source",
            str(video),
            "--id-image",
            str(id_image),
            "--booking",
            booking,
            "--json",
        ),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise click.ClickException(f"the kiosk failed:\n{completed.stderr}") from None
    return result


def _show_decision(label: str, result: dict[str, Any]) -> None:
    if "error" in result:
        click.echo(f"  {label}: ERROR {result['error']['code']}: {result['error']['detail']}")
        return
    if result.get("score") is None:
        click.echo(
            f"  {label}: {result['decision'].upper()} ({result['reason']}), {result['seconds_to_decision']:.1f} s"
        )
        return
    relation = ">=" if result["decision"] == "accepted" else "<"
    click.echo(
        f"  {label}: {result['decision'].upper()} ({result['reason']}) — score {result['score']:.3f} "
        f"{relation} threshold {result['threshold']:.3f} [{result['model']}], "
        f"{result['frames_fused']} frames fused, {result['seconds_to_decision']:.1f} s"
    )


@click.command()
@click.option(
    "--instance",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("instance"),
    show_default=True,
    help="Instance folder (SQLite file, keys, the demo kiosk's identity).",
)
def demo(instance: Path) -> None:
    """Run the end-to-end check-in demo on sample media (see ``lethe media list``)."""
    import requests

    from models import MediaError, media_path
    from service import property as prop
    from service.checkin.kiosks import create_enrolment_code
    from service.cli.common import load_service_settings, open_database, prepare
    from service.stays.integrations import create_integration

    try:
        video, guest, impostor = (media_path(n) for n in ("hamilton-clip", "lin-manuel-miranda", "alex-lacamoire"))
    except MediaError as exc:
        raise click.ClickException(str(exc)) from None

    instance = instance.resolve()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LETHE_") or k in ("LETHE_DATA_MIRROR", "LETHE_MODEL_DIR", "LETHE_MODEL_MIRROR")
    }
    env |= {"LETHE_INSTANCE_PATH": str(instance), "LETHE_KIOSK_KEY_FILE": str(instance / "demo-kiosk" / "kiosk.json")}
    settings = load_service_settings(instance_path=instance, database_url="", key_dir=None)
    click.echo(f"Lethe demo — instance folder {instance}")
    prepare(settings)
    click.echo(f"  database {settings.resolved_database_url}; keys in {settings.resolved_key_dir} (0600)")

    now = dt.datetime.now(dt.UTC)
    database = open_database(settings)
    with database.transaction() as session:
        api_key = create_integration(session, name=f"demo-pms-{now:%Y%m%d%H%M%S%f}", actor="demo")
        code = create_enrolment_code(session, kiosk_name="Demo kiosk", ttl_s=300, actor="demo", now=now).code
        # A recorded video cannot perform a challenge chosen at random: the demo property is passive-only.
        prop.save(session, prop.Liveness(require_challenge=False), actor="demo")
    database.dispose()

    with running_service(env, free_port()) as url:
        click.echo(f"1. Service running at {url} (gunicorn, 2 workers)")
        subprocess.run(
            lethe_command("kiosk", "register", "--service", url, "--code", code, "--force"),  # the demo's own kiosk
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        click.echo("2. Kiosk registered with a one-time enrolment code; its Ed25519 key is in a 0600 file")
        pms = {"Authorization": f"Bearer {api_key}"}
        today = dt.date.today()
        answer = requests.post(
            f"{url}/pms/v1/reservations",
            json={
                "guest_name": "Lin-Manuel Miranda",
                "arrival": today.isoformat(),
                "departure": (today + dt.timedelta(days=2)).isoformat(),
            },
            headers=pms,
            timeout=10,
        )
        answer.raise_for_status()
        reservation = answer.json()
        booking = reservation["booking_code"]
        click.echo(f"3. Reservation {reservation['reference']} created; booking QR holds {booking[:16]}… (shown once)")
        click.echo(f"4. Kiosk runs on {video.name}:")
        _show_decision(f"guest, ID photo {guest.name}", _kiosk(env, url, video, guest, booking))
        _show_decision(f"impostor, ID photo {impostor.name}", _kiosk(env, url, video, impostor, booking))

        answer = requests.post(
            f"{url}/pms/v1/reservations/{reservation['reference']}/checkout", headers=pms, timeout=10
        )
        answer.raise_for_status()
        receipt_file = instance / "receipts" / f"{reservation['reference']}.json"
        receipt_file.parent.mkdir(exist_ok=True)
        receipt_file.write_text(json.dumps(answer.json(), indent=2))
        key_file = instance / "receipts" / "receipt-public-key.pem"
        key_file.write_text(requests.get(f"{url}/api/v1/keys", timeout=10).json()["receipt"][0]["public_key_pem"])
        click.echo(f"5. Checked out; deletion receipt saved to {receipt_file}")

    click.echo("6. Service stopped. Verifying the receipt offline:")
    verified = subprocess.run(
        lethe_command("receipt", "verify", str(receipt_file), "--public-key", str(key_file)),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    click.echo(f"  {(verified.stdout or verified.stderr).strip()}")
    if verified.returncode != 0:
        raise SystemExit(1)
