"""The service crashes (SIGKILL, every process) in the middle of a check-in and comes back."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lethe.demo import lethe_command
from tests.helpers.deployment import Checkin, CrashableDeployment, Report

MISC = "faces/face_recognition/misc"
HAMILTON = "video/short_hamilton_clip.mp4"


def test_crash_mid_session_is_retryable_and_leaves_nothing_half_written(
    crashable_deployment: CrashableDeployment,
    checkin: Checkin,
    report: Report,
    testdata: Path,
    request: pytest.FixtureRequest,
) -> None:
    deployment = crashable_deployment
    reservation = deployment.reservation()
    video, portrait = testdata / HAMILTON, testdata / MISC / "lin-manuel-miranda.png"
    # --realtime reads the clip at its own frame rate, as from a camera: the session is open for
    # several seconds while the kiosk looks for the guest's face (none in the first 2.8 s).
    # The context manager closes the kiosk's pipes whatever happens; the finally block makes sure
    # it has exited before that.
    with subprocess.Popen(
        lethe_command(
            "kiosk",
            "--consent-accepted",
            "--source",
            str(video),
            "--id-image",
            str(portrait),
            "--booking",
            reservation["booking_code"],
            "--json",
            "--realtime",
        ),
        env=deployment.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as kiosk:
        try:
            deadline = time.monotonic() + 60
            while deployment.stay_state(reservation["reference"]).sessions.get("open", 0) == 0:
                assert kiosk.poll() is None, kiosk.communicate()
                assert time.monotonic() < deadline, "the kiosk never opened a session"
                time.sleep(0.1)
            deployment.service.kill()
            stdout, stderr = kiosk.communicate(timeout=120)
        finally:
            if kiosk.poll() is None:
                kiosk.kill()
                kiosk.wait()

    answer = json.loads(stdout.strip().splitlines()[-1])
    report.record(
        {
            "test": request.node.nodeid,
            "case": "service killed mid-session",
            "video": HAMILTON,
            "exit_status": kiosk.returncode,
            "error": answer.get("error", {}).get("code"),
        }
    )
    assert kiosk.returncode == 4, stderr
    assert answer["error"]["code"] == "service-unreachable"
    assert answer["error"]["retryable"] is True
    assert answer["error"]["guidance"]

    state = deployment.stay_state(reservation["reference"])
    assert (state.status, state.templates, state.attempts) == ("reserved", 0, 0)
    assert state.data_keys == 1
    assert state.sessions == {"open": 1}  # never used; it expires after the session TTL

    assert deployment.audit_chain_intact()

    deployment.service.start()
    run = checkin(deployment, "retry after restart", video, portrait, reservation["booking_code"])
    assert run.status == 0, run.answer
    assert run.decision == "accepted"
    state = deployment.stay_state(reservation["reference"])
    assert (state.status, state.templates, state.attempts) == ("checked_in", 1, 1)
    assert state.sessions == {"open": 1, "used": 1}
    assert deployment.audit_chain_intact()


class CrashingProxy:
    """A loopback TCP proxy to the service that crashes it the moment a verify request has gone through.

    Once the whole ``POST /api/v1/verify`` request (headers and body) is forwarded, the proxy
    calls ``crash`` — SIGKILL to the service — and drops whatever the service answered, as a
    power cut would, so the kiosk never learns whether the service decided.
    """

    def __init__(self, upstream: str, crash: Callable[[], None]) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self._upstream = (host, int(port))
        self._crash = crash
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self.crashed = threading.Event()
        self._sockets: list[socket.socket] = [self._server]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
                upstream = socket.create_connection(self._upstream)
            except OSError:
                return
            self._sockets += [client, upstream]
            for target, args in ((self._down, (upstream, client)), (self._up, (client, upstream))):
                thread = threading.Thread(target=target, args=args, daemon=True)
                self._threads.append(thread)
                thread.start()

    def _up(self, client: socket.socket, upstream: socket.socket) -> None:
        pending = b""
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                upstream.sendall(data)
                pending += data
                while (end := self._request_end(pending)) is not None:  # a kept-alive connection carries several
                    request, pending = pending[:end], pending[end:]
                    if request.startswith(b"POST /api/v1/verify "):
                        self.crashed.set()
                        self._crash()
                        client.shutdown(socket.SHUT_RDWR)
                        return

    @staticmethod
    def _request_end(data: bytes) -> int | None:
        """Where the first complete request (head and ``Content-Length`` body) in ``data`` ends, or ``None``."""
        if b"\r\n\r\n" not in data:
            return None
        head = data.split(b"\r\n\r\n", 1)[0]
        lines = head.split(b"\r\n")
        lengths = [line.split(b":", 1)[1] for line in lines if line.lower().startswith(b"content-length:")]
        length = int(lengths[0]) if lengths else 0
        end = len(head) + 4 + length
        return end if len(data) >= end else None

    def _down(self, upstream: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if self.crashed.is_set():
                    return  # the answer dies with the service
                client.sendall(data)
            client.shutdown(socket.SHUT_RDWR)  # the service closed an idle kept-alive connection: so does the proxy


def test_crash_while_verifying_is_all_or_nothing(
    crashable_deployment: CrashableDeployment,
    checkin: Checkin,
    report: Report,
    testdata: Path,
    request: pytest.FixtureRequest,
) -> None:
    deployment = crashable_deployment
    reservation = deployment.reservation()
    video, portrait = testdata / HAMILTON, testdata / MISC / "lin-manuel-miranda.png"
    proxy = CrashingProxy(deployment.url, deployment.service.kill)
    try:
        crashed = checkin(
            deployment,
            "service killed as the envelope arrives",
            video,
            portrait,
            reservation["booking_code"],
            env={"LETHE_KIOSK_SERVICE_URL": proxy.url},
        )
    finally:
        proxy.close()
    assert proxy.crashed.is_set()
    assert crashed.status == 4, crashed.answer
    assert crashed.error["code"] == "service-unreachable"
    assert crashed.error["retryable"] is True

    # Whether or not the service got as far as committing, it committed all of the decision or none.
    state = deployment.stay_state(reservation["reference"])
    nothing = (state.status, state.templates, state.attempts, state.sessions) == ("reserved", 0, 0, {"open": 1})
    everything = (state.status, state.templates, state.attempts, state.sessions) == ("checked_in", 1, 1, {"used": 1})
    assert nothing or everything, state
    assert deployment.audit_chain_intact()
    report.record({"test": request.node.nodeid, "case": "state after the crash", "committed": everything})

    deployment.service.start()
    run = checkin(deployment, "retry after restart", video, portrait, reservation["booking_code"])
    assert (run.status, run.decision) == (0, "accepted"), run.answer
    state = deployment.stay_state(reservation["reference"])
    assert (state.status, state.templates, state.attempts) == ("checked_in", 1, 2 if everything else 1)


def test_an_event_recorded_before_a_crash_is_delivered_once_on_restart(
    crashable_deployment: CrashableDeployment,
) -> None:
    """SIGKILL between the change and its delivery: the outbox row, written with the change, goes out on restart."""
    from standardwebhooks import Webhook

    from tests.helpers.deployment import ServiceProcess
    from tests.helpers.receiver import receiver

    deployment = crashable_deployment
    with receiver() as hooks:
        added = deployment.lethe("integration", "webhook", "add", hooks.url).stdout.splitlines()
        endpoint_id, secret = added[0].split()[1].rstrip(":"), added[1]
        # The same service with its delivery loop off: the change is made, nothing is sent yet.
        deployment.service.kill()
        quiet = ServiceProcess(deployment.env | {"LETHE_WEBHOOK_INTERVAL_S": "0"}, deployment.service.port)
        quiet.start()
        try:
            reservation = deployment.reservation()
            assert deployment.checkout(reservation["reference"]).status_code == 200
        finally:
            quiet.kill()  # SIGKILL, every process: between the change and its delivery
        assert hooks.requests == []
        deployment.service.start()  # the delivery loop sends the outbox's due events at once
        (got,) = hooks.wait_for(1)
        event = Webhook(secret).verify(got.body, got.headers)
        assert event["type"] == "stay.checked_out"
        assert event["data"]["booking_reference"] == reservation["reference"]
        assert event["data"]["receipt_id"]
        deadline = time.monotonic() + 60
        while "delivered 1" not in deployment.lethe("integration", "webhook", "list").stdout:
            assert time.monotonic() < deadline, "the delivery was never recorded"
            time.sleep(0.2)
        assert len(hooks.requests) == 1  # recorded as delivered: no worker sends it again
        deployment.lethe("integration", "webhook", "remove", endpoint_id)
