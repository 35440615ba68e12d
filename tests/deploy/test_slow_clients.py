"""Slow clients (slowloris) against the shipped deployment: nginx (deploy/nginx/lethe.conf) in front of
``lethe serve`` (2 gthread workers, 4 threads each). Many connections that send part of their headers, or
their headers and four bytes of a body, and then nothing, must leave kiosk check-ins answering within 1 s.

Without the proxy the same connections hold every worker thread: run :func:`slow_connections` against the
service's own port to see it (docs/reliability.md, "Slow clients", has both sets of figures).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from edge.client import ServiceClient
from edge.identity import KioskIdentity
from lethe.demo import free_port, lethe_command, running_service
from protocol import CheckinPayload, LivenessEvidence, SigningKey, Suite, encode_payload, parse_booking_code, seal
from tests.helpers.deployment import service_env
from tests.helpers.proxy import HOST, nginx
from tests.helpers.service import near, random_template

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (dev.py installs it)")

SLOW_CONNECTIONS = 400  # 50 times the service's 8 worker threads
CHECKINS = 8
ANSWER_WITHIN_S = 1.0


@contextlib.contextmanager
def slow_connections(port: int, count: int, *, ca_file: Path | None = None) -> Iterator[list[socket.socket]]:
    """``count`` connections to ``port`` (TLS when ``ca_file`` is given), each sending half its headers or its
    headers and 4 bytes of a 4 KiB body, then nothing; closed when the block ends."""
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    opened: list[socket.socket] = []
    try:
        for i in range(count):
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn = context.wrap_socket(raw, server_hostname=HOST) if context else raw
            opened.append(conn)
            if i % 2:
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\nUser-Ag")
            else:
                conn.sendall(
                    b"POST /api/v1/verify HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n"
                    b"Content-Type: application/vnd.lethe.envelope\r\nContent-Length: 4096\r\n\r\nabcd"
                )
        yield opened
    finally:
        for conn in opened:
            conn.close()


def lethe(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(lethe_command(*args), env=env, capture_output=True, text=True, check=True, timeout=300)
    return done.stdout


def checkin(client: ServiceClient, identity: KioskIdentity, booking_code: str) -> dict[str, object]:
    """The kiosk's four requests of one check-in: key, session, consent, the sealed envelope (a matching face)."""
    code = parse_booking_code(booking_code)
    recipient = client.recipient_key(Suite.MLKEM768_X25519)
    opened = client.open_session(identity, code.reference)
    version = int((opened.consent or {}).get("version", 1))
    client.record_consent(identity, opened.session_id, accepted=True, version=version)
    id_template = random_template(7)
    payload = CheckinPayload(
        stay_secret=code.stay_secret,
        live=near(id_template, 0.01),
        id_template=id_template,
        evidence={"frames_fused": 5},
        liveness=LivenessEvidence(0.95, "minifasnet-v2+v1se", 5, opened.challenge, True, opened.nonce),
    )
    envelope = seal(
        encode_payload(payload),
        recipient=recipient,
        device_key=identity.key,
        kiosk_id=identity.kiosk_id,
        session_id=opened.session_id,
        nonce=opened.nonce,
    )
    return client.verify(envelope)


def test_checkins_answer_within_a_second_while_many_clients_trickle(tmp_path: Path, data_mirror: Path) -> None:
    instance = tmp_path / "instance"
    env = service_env(instance, data_mirror)
    port = free_port()
    with nginx(tmp_path / "nginx", port) as proxy:
        env |= {"LETHE_PROXY_HOPS": "1"}
        with running_service(env, port):
            api_key = lethe(env, "integration", "create", "pms").strip()
            client = ServiceClient(proxy.url, ca_file=proxy.ca_file)
            key = SigningKey.generate()
            kiosk_id = client.register(lethe(env, "device", "code", "--name", "Lobby").split()[0], key)
            identity = KioskIdentity(kiosk_id, key, proxy.url)
            pms = requests.Session()
            pms.verify, pms.trust_env = str(proxy.ca_file), False
            today = dt.date.today()
            codes = [
                pms.post(
                    f"{proxy.url}/pms/v1/reservations",
                    json={
                        "guest_name": f"Guest {i}",
                        "arrival": today.isoformat(),
                        "departure": (today + dt.timedelta(days=1)).isoformat(),
                    },
                    headers={"Authorization": f"Bearer {api_key}"},
                    timeout=10,
                ).json()["booking_code"]
                for i in range(CHECKINS)
            ]
            checkin(client, identity, codes.pop())  # warm: every worker's first request loads its keys

            with slow_connections(int(proxy.url.rsplit(":", 1)[1]), SLOW_CONNECTIONS, ca_file=proxy.ca_file):
                times = []
                for booking_code in codes:
                    started = time.perf_counter()
                    answer = checkin(client, identity, booking_code)
                    times.append(time.perf_counter() - started)
                    assert answer["decision"] == "accepted", answer
                started = time.perf_counter()
                assert pms.get(f"{proxy.url}/healthz", timeout=ANSWER_WITHIN_S).ok
                health = time.perf_counter() - started
            client.close()
    print(f"\n{SLOW_CONNECTIONS} slow connections: check-ins {[round(t, 3) for t in times]} s, healthz {health:.3f} s")
    assert max(times) < ANSWER_WITHIN_S, times
