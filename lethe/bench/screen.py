"""``lethe bench screen``: the speed the guest feels at the kiosk's screen, on the recorded clip.

Each run is one guest through the real guest screen code (``edge.screen.run_guest``)
against the real service (gunicorn, a fresh instance with the try-out liveness
policy, since the clip cannot perform a challenge): the booking QR (a rendered
image), the choice after it ("Check in") and the consent notice (each answered the
moment it shows), the ID portrait from
its image file, then the Hamilton clip at camera pace (``--realtime``). A viewer
reads the page's state events and the preview stream throughout, as the browser
would, so the JPEG encoding of the preview is paid for. The kiosk's models are
loaded before the attract screen, as ``lethe kiosk screen`` does, and are not timed.

Measured per run, from the screen's own timestamps (``GuestScreen.timings``):
booking QR read → result on screen, and first usable face frame → result on
screen. The page is pushed the result as a server-sent event the moment it is
set, so "on screen" here is the state change, not the browser's paint.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from edge.settings import KioskSettings
from lethe.bench import Row, emit, hamilton_media, provisioned_instance
from lethe.demo import free_port, lethe_command, running_service


def _watch(url: str, stop: threading.Event) -> None:
    """Read the page's state events and preview stream until ``stop``, as the kiosk's browser does."""
    import requests

    def drain(path: str) -> None:
        try:
            with requests.get(url + path, stream=True, timeout=30) as answer:
                for _ in answer.iter_content(chunk_size=65536):
                    if stop.is_set():
                        return
        except requests.RequestException:
            return

    for path in ("/events", "/preview.mjpg"):
        threading.Thread(target=drain, args=(path,), daemon=True).start()


def _answer_consent(screen: Any, stop: threading.Event) -> None:
    """Answer as a guest who taps at once: "Check in" on the choice after the QR, then accept the consent."""
    seen = -1
    while not stop.is_set():
        change = screen.wait_for_change(seen, 1.0)
        if change is None:
            continue
        seen, state = change
        if state["screen"] == "choose":
            screen.answer("check-in")
        elif state["screen"] == "consent" and screen.answer("accept"):
            return


@click.command("screen")
@click.option("--runs", default=5, show_default=True, help="Guests through the screen.")
@click.option("--backend", type=click.Choice(["dlib", "onnx"]), default="onnx", show_default=True)
@click.option(
    "--embedder",
    default=KioskSettings.model_fields["onnx_embedder"].default,
    show_default=True,
    help="The ONNX backend's embedder (a model id of LETHE_KIOSK_ONNX_EMBEDDER).",
)
def screen(runs: int, backend: str, embedder: str) -> None:
    """Booking QR → result and first usable face frame → result on the guest's screen (median of --runs)."""
    import requests

    from edge.errors import ExitStatus
    from edge.screen import GuestScreen, create_screen_app, run_guest, serve
    from edge.settings import KioskSettings
    from lethe.booking import render_qr

    video, guest = hamilton_media()
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="lethe-bench-") as folder:
        env, api_key, code = provisioned_instance(Path(folder))
        subprocess.run(
            lethe_command("property", "liveness", "--demo-passive-only"), env=env, check=True, capture_output=True
        )
        with running_service(env, free_port()) as url:
            key_file = Path(folder) / "kiosk" / "kiosk.json"
            subprocess.run(
                lethe_command("kiosk", "register", "--service", url, "--code", code, "--key-file", str(key_file)),
                env=env,
                check=True,
                capture_output=True,
            )
            try:
                settings = KioskSettings.model_validate(
                    {"service_url": url, "key_file": key_file, "backend": backend, "onnx_embedder": embedder}
                )
            except ValidationError as exc:
                raise click.ClickException(f"settings: {exc}") from None
            for number in range(runs):
                today = dt.date.today()
                booking = requests.post(
                    f"{url}/pms/v1/reservations",
                    json={"guest_name": "Bench Guest", "arrival": str(today), "departure": str(today)},
                    headers={"Authorization": f"Bearer {api_key}"},
                    timeout=10,
                ).json()["booking_code"]
                qr = Path(folder) / f"booking-{number}.png"
                qr.write_bytes(render_qr(booking, "png"))
                guest_screen = GuestScreen()
                server = serve(create_screen_app(guest_screen), 0)
                stop = threading.Event()
                _watch(f"http://127.0.0.1:{server.server_port}", stop)
                threading.Thread(target=_answer_consent, args=(guest_screen, stop), daemon=True).start()
                try:
                    status = run_guest(
                        guest_screen, settings, source=str(video), id_image=guest, booking_source=str(qr), realtime=True
                    )
                finally:
                    stop.set()
                    guest_screen.close()
                    server.shutdown()
                if status != ExitStatus.ACCEPTED:
                    raise click.ClickException(f"run {number}: the guest was not accepted ({status.name})")
                times = guest_screen.timings
                samples.setdefault("booking QR read → result on screen", []).append(times["result"] - times["qr-read"])
                samples.setdefault("first usable face frame → result on screen", []).append(
                    times["result"] - times["first-good-frame"]
                )
    command = f"lethe bench screen --runs {runs} --backend {backend}" + (
        f" --embedder {embedder}" if backend == "onnx" else ""
    )
    emit(
        f"The guest's screen (Hamilton clip at camera pace, {backend}"
        + (f" {embedder}" if backend == "onnx" else "")
        + ", the try-out liveness policy)",
        [Row(what, values, command) for what, values in samples.items()],
        "QR → result includes the instant consent, the ID portrait's template and the clip's first 2.8 s "
        "without a usable face; first usable face frame → result is what the guest waits once in view "
        "(goal ≤ 1.0 s).",
    )
