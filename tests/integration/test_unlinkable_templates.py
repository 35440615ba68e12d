"""Promise 6: the transform key (and, in the PMS-side way, the master secret) never reaches the service.

A service of its own runs behind a recording proxy. The PMS makes the booking
code itself and sends only the reference and the stay secret's fingerprint; the
real kiosk command checks the guest in and re-verifies them, and the kiosk's
client checks them out. Then every request and answer (headers and bodies),
every database row, every line the service logged, its ``/metrics`` and the
kiosk's own output are searched for the secrets in every usual encoding.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from edge.client import ServiceClient
from edge.identity import load_identity
from lethe.demo import free_port, lethe_command
from protocol import BookingCode, new_master_secret
from protocol.booking import encode_secret
from tests.helpers.deployment import CrashableDeployment, ServiceProcess, provision, service_env
from tests.helpers.leaks import RecordingProxy, database_rows, encodings, found_in

MISC = "faces/face_recognition/misc"


@pytest.fixture(scope="module")
def own_service(tmp_path_factory: pytest.TempPathFactory, data_mirror: Path) -> Iterator[CrashableDeployment]:
    instance = tmp_path_factory.mktemp("unlinkable")
    env = service_env(instance, data_mirror) | {"LETHE_DATABASE_URL": f"sqlite:///{instance / 'lethe.sqlite3'}"}
    service = ServiceProcess(env, free_port())
    service.start()
    try:
        ready = provision(service.url, env, instance)
        yield CrashableDeployment(ready.url, ready.env, ready.instance, ready.api_key, service)
    finally:
        service.stop()


def test_the_helper_finds_each_encoding() -> None:
    secret = bytes(range(7, 39))
    for name, value in encodings(secret).items():
        assert name in found_in(secret, b"x=" + value + b";")
    assert found_in(secret, b"nothing here") == []


def kiosk(deployment: CrashableDeployment, proxy: RecordingProxy, *args: str) -> tuple[dict[str, object], str]:
    done = subprocess.run(
        lethe_command("kiosk", "--consent-accepted", "--json", *args),
        env=deployment.env | {"LETHE_KIOSK_SERVICE_URL": proxy.url},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr
    return json.loads(lines[-1]), done.stdout + done.stderr


def test_checkin_reverify_checkout_never_send_the_transform_key(
    own_service: CrashableDeployment, testdata: Path
) -> None:
    code = BookingCode("UNLINK42", new_master_secret())
    video = testdata / "video/short_hamilton_clip.mp4"
    today = dt.date.today()
    with RecordingProxy(own_service.url) as proxy:
        created = requests.post(
            f"{proxy.url}/pms/v1/reservations",
            json={
                "guest_name": "Lin-Manuel Miranda",
                "arrival": today.isoformat(),
                "departure": (today + dt.timedelta(days=1)).isoformat(),
                "reference": code.reference,
                "stay_secret_fingerprint": code.fingerprint,
            },
            headers={"Authorization": f"Bearer {own_service.api_key}"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        checked_in, kiosk_output = kiosk(
            own_service, proxy, "--source", str(video), "--id-image", str(testdata / MISC / "lin-manuel-miranda.png"),
            "--booking", str(code),
        )  # fmt: skip
        assert checked_in["decision"] == "accepted", checked_in
        reverified, more_output = kiosk(
            own_service, proxy, "--source", str(video), "--reverify", "--booking", str(code)
        )
        assert reverified["decision"] == "accepted", reverified
        # The kiosk's own checkout call, as the guest screen makes it.
        client = ServiceClient(proxy.url, timeout_s=30)
        try:
            receipt = client.checkout(load_identity(Path(own_service.env["LETHE_KIOSK_KEY_FILE"])), code)
        finally:
            client.close()
        assert receipt["claims"]["stay_ref_digest"] == code.fingerprint
        metrics = requests.get(f"{own_service.url}/metrics", timeout=10).content
        exchanges = list(proxy.exchanges)
    paths = {f"{e.method} {e.path.split('?')[0]}" for e in exchanges}
    assert {"POST /pms/v1/reservations", "POST /api/v1/verify", "POST /api/v1/checkout"} <= paths
    places: list[tuple[str, bytes]] = [(f"{e.method} {e.path}", e.as_bytes()) for e in exchanges]
    places += list(database_rows(own_service.env["LETHE_DATABASE_URL"]))
    places += [
        (f"service log line {i}", line.encode()) for i, line in enumerate(own_service.service.log_text().splitlines())
    ]
    places += [("metrics", metrics), ("kiosk output", (kiosk_output + more_output).encode())]
    # The search works: the public reference is in the requests, and the checkout carried the stay secret.
    assert any(code.reference.encode() in blob for _, blob in places)
    assert any(encode_secret(code.stay_secret).encode() in e.request_body for e in exchanges)
    for name, secret in (("transform key", code.transform_key), ("master secret", code.master_secret)):
        leaks = [(where, found_in(secret, blob)) for where, blob in places if found_in(secret, blob)]
        assert leaks == [], f"the {name} reached the service: {leaks}"
