"""Service benchmarks: ``lethe bench verify`` and ``lethe bench purge`` (loopback only, bounded in time).

``verify`` prepares a fresh database (SQLite file, or a PostgreSQL schema of its
own with ``--database-url``) with checked-in stays, one open check-in session per
request and one sealed re-verification envelope per session, then starts
``lethe serve`` (gunicorn, threaded workers) and drives ``POST /api/v1/verify`` for
``--duration`` seconds with ``wrk`` (Debian package) or, without it, a Python
load generator. A full verification there is: envelope signature check, session
nonce (replay) check, HPKE open, stored-template unwrap and decrypt, 1:1 cosine,
decision, storing the new template and the audit write. In the same run it
starts a bare gunicorn endpoint that only opens an X25519 envelope and computes
one cosine, drives it the same way, and reports the ratio.

``purge`` inserts ``--stays`` expired stays (each with a data key and an
encrypted template) and times ``purge_all``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from service.web.server import THREADS

if TYPE_CHECKING:
    from protocol import LivenessEvidence

ENVELOPE = "application/vnd.lethe.envelope"
MODEL = "dlib-resnet-v1"
BARE_KEY_ENV = "LETHE_BENCH_BARE_KEYS"
MAX_DURATION_S = 120

WRK_SCRIPT = r"""
local bodies = {}
local counter = 0
local nthreads = 1
local id_counter = 0

function setup(thread)
  thread:set("tid", id_counter)
  id_counter = id_counter + 1
end

function init(args)
  nthreads = tonumber(args[2])
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*all")
  f:close()
  local pos = 1
  local index = 0
  while pos <= #data do
    local n = tonumber(data:sub(pos, pos + 7))
    pos = pos + 8
    if index % nthreads == (tid or 0) then
      table.insert(bodies, data:sub(pos, pos + n - 1))
    end
    index = index + 1
    pos = pos + n
  end
end

function request()
  counter = counter + 1
  local body = bodies[((counter - 1) % #bodies) + 1]
  return wrk.format("POST", "PATH", {["Content-Type"] = "CTYPE"}, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "errors": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


# -- the bare endpoint (gunicorn imports this module as lethe.bench.service:bare_app) --------------

_bare_keys: tuple[Any, Any] | None = None


def _load_bare_keys() -> tuple[Any, Any]:
    global _bare_keys
    if _bare_keys is None:
        from protocol import RecipientPrivateKey, Suite, VerifyKey

        record = json.loads(Path(os.environ[BARE_KEY_ENV]).read_text())
        _bare_keys = (
            VerifyKey(bytes.fromhex(record["device"])),
            RecipientPrivateKey(Suite.X25519, bytes.fromhex(record["recipient"])),
        )
    return _bare_keys


def bare_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Open one X25519 envelope and compute one cosine: the floor a full verification is compared with."""
    from protocol import decode_payload, open_envelope, parse_envelope

    if environ.get("REQUEST_METHOD") != "POST":  # the readiness probe
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    device, recipient = _load_bare_keys()
    size = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(size)
    payload = decode_payload(open_envelope(parse_envelope(body), device_key=device, recipient_keys=[recipient]))
    assert payload.id_template is not None
    score = float(np.dot(payload.live.vector, payload.id_template.vector))
    answer = json.dumps({"score": round(score, 6)}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
    return [answer]


# -- helpers --------------------------------------------------------------------------------------


def _template(rng: np.random.Generator) -> Any:
    from protocol import Template

    return Template.from_embedding(MODEL, rng.normal(size=128))


def _near(template: Any, rng: np.random.Generator) -> Any:
    from protocol import Template

    return Template.from_embedding(template.model_id, template.vector + rng.normal(scale=0.01, size=128))


def _write_bodies(path: Path, bodies: Iterable[bytes]) -> int:
    count = 0
    with path.open("wb") as f:
        for body in bodies:
            f.write(f"{len(body):08d}".encode() + body)
            count += 1
    return count


def read_bodies(path: Path) -> list[bytes]:
    data = path.read_bytes()
    bodies, pos = [], 0
    while pos < len(data):
        n = int(data[pos : pos + 8])
        bodies.append(data[pos + 8 : pos + 8 + n])
        pos += 8 + n
    return bodies


@contextmanager
def _database(url: str | None, folder: Path) -> Iterator[str]:
    """A fresh SQLite file in ``folder``, or a fresh PostgreSQL schema under ``url`` (dropped afterwards)."""
    if not url:
        yield f"sqlite:///{folder / 'bench.sqlite3'}"
        return
    from sqlalchemy import create_engine, text

    schema = f"lethe_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _passing(challenge: str, nonce: bytes) -> LivenessEvidence:
    """Liveness evidence a live guest's kiosk would send for this session (the policy check runs in full)."""
    from protocol import LivenessEvidence

    return LivenessEvidence(0.95, "minifasnet-v2+v1se", 5, challenge, True, nonce)


def prepare_verify(url: str, instance: Path, *, requests: int, stays: int, seed: int) -> tuple[Path, Path]:
    """Stays checked in once each, ``requests`` open sessions and one envelope per session (and bare bodies).

    Writes the envelopes to ``instance/verify.bodies`` (``read_bodies`` reads them back, in order; envelope
    ``i`` is for a session of stay ``i % stays``) and the bare endpoint's keys and bodies beside them. Used
    by ``lethe bench verify`` and by the SIGKILL-under-load test (``tests/reliability``). The templates come
    from ``seed``; the session ids and nonces are random, as the service makes them.
    """
    from sqlalchemy import insert

    from models.registry import load_manifest
    from protocol import (
        CheckinPayload,
        RecipientPrivateKey,
        SigningKey,
        Suite,
        encode_payload,
        seal_at_time,
    )
    from service import keyring
    from service.checkin import consent, sessions, verification
    from service.checkin.kiosks import create_enrolment_code, register_kiosk
    from service.stays.reservations import create_reservation
    from service.storage import migrate
    from service.storage.db import Database
    from service.storage.tables import CheckinSession

    rng = np.random.default_rng(seed)
    migrate.upgrade(url)
    ring = keyring.load_or_create(instance / "keys")
    recipient = ring.recipient_for(Suite.X25519).public_key()
    device = SigningKey.generate()
    db = Database(url)
    manifest = load_manifest()
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    with db.transaction() as session:
        code = create_enrolment_code(session, kiosk_name="bench", ttl_s=600, actor="bench", now=now).code
        kiosk_id = uuid.UUID(register_kiosk(session, code=code, public_key=device.public_key().raw, now=now).id)
        made = [
            create_reservation(
                session, ring, guest_name=f"Bench {i}", arrival=today, departure=today + dt.timedelta(1), actor="bench"
            )
            for i in range(stays)
        ]
    references = {}
    for created in made:
        assert created.booking_code is not None  # the service made it
        reference = _template(rng)
        references[created.stay.id] = (created, reference)
        with db.transaction() as session:
            opened = sessions.open_session(
                session, _kiosk(session, kiosk_id), reference=created.stay.reference, now=now, ttl_s=3600
            )
            consent.record(session, _kiosk(session, kiosk_id), opened.id, decision="accepted", version=1, now=now)
            body = seal_at_time(
                encode_payload(
                    CheckinPayload(
                        created.booking_code.stay_secret,
                        _near(reference, rng),
                        reference,
                        {},
                        _passing(opened.challenge or "none", opened.nonce),
                    )
                ),
                recipient=recipient,
                device_key=device,
                kiosk_id=kiosk_id,
                session_id=uuid.UUID(opened.id),
                nonce=opened.nonce,
                now=time.time(),
            )
        result = verification.verify(db, ring, manifest, body, now=now, skew_s=900)
        assert result.decision == "accepted", result
    stay_ids = list(references)
    rows = []
    bodies = []
    sealed_at = time.time()
    for i in range(requests):
        stay_id = stay_ids[i % len(stay_ids)]
        created, reference = references[stay_id]
        assert created.booking_code is not None
        session_id, nonce = uuid.uuid4(), os.urandom(32)
        rows.append(
            {
                "id": str(session_id),
                "stay_id": stay_id,
                "kiosk_id": str(kiosk_id),
                "nonce": nonce,
                "status": "open",
                "consent": "accepted",  # as the kiosk records it before it sends an envelope
                "consent_version": 1,
                "consent_at": now,
                "created_at": now,
                "expires_at": now + dt.timedelta(hours=1),
            }
        )
        payload = CheckinPayload(
            created.booking_code.stay_secret,
            _near(reference, rng),
            None,
            {"frames_fused": 5},
            _passing("none", nonce),  # the rows below take the column's default challenge
        )
        bodies.append(
            seal_at_time(
                encode_payload(payload),
                recipient=recipient,
                device_key=device,
                kiosk_id=kiosk_id,
                session_id=session_id,
                nonce=nonce,
                now=sealed_at,
            )
        )
    with db.transaction() as session:
        for start in range(0, len(rows), 2000):
            session.execute(insert(CheckinSession), rows[start : start + 2000])
    db.dispose()
    verify_bodies = instance / "verify.bodies"
    _write_bodies(verify_bodies, bodies)

    # the bare endpoint's keys and bodies: same payload shape, X25519, with an ID template
    bare_recipient = RecipientPrivateKey.generate(Suite.X25519)
    bare_device = SigningKey.generate()
    keys_file = instance / "bare-keys.json"
    fd = os.open(keys_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"device": bare_device.public_key().raw.hex(), "recipient": bare_recipient.raw.hex()}, f)
    bare = []
    for _ in range(min(requests, 2000)):
        reference = _template(rng)
        payload = CheckinPayload(os.urandom(16), _near(reference, rng), reference, {"frames_fused": 5})
        bare.append(
            seal_at_time(
                encode_payload(payload),
                recipient=bare_recipient.public_key(),
                device_key=bare_device,
                kiosk_id=uuid.uuid4(),
                session_id=uuid.uuid4(),
                nonce=os.urandom(32),
                now=sealed_at,
            )
        )
    bare_bodies = instance / "bare.bodies"
    _write_bodies(bare_bodies, bare)
    return verify_bodies, bare_bodies


def _kiosk(session: Any, kiosk_id: uuid.UUID) -> Any:
    from service.storage.tables import Kiosk

    return session.get_one(Kiosk, str(kiosk_id))


# -- load generators ------------------------------------------------------------------------------


def _wrk(url: str, path: str, bodies: Path, *, duration: int, connections: int, threads: int) -> dict[str, Any]:
    script = bodies.with_suffix(".lua")
    script.write_text(WRK_SCRIPT.replace("PATH", path).replace("CTYPE", ENVELOPE))
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
        "--",
        str(bodies),
        str(threads),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    seconds = result["duration_us"] / 1e6
    return {
        "client": "wrk",
        "requests": result["requests"],
        "seconds": round(seconds, 2),
        "per_second": round((result["requests"] - result["non_2xx"]) / seconds, 1),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "non_2xx": result["non_2xx"],
        "errors": result["errors"],
    }


def _python_worker(args: tuple[str, str, list[bytes], float]) -> tuple[list[float], int]:
    import http.client
    from urllib.parse import urlsplit

    url, path, bodies, deadline = args
    parts = urlsplit(url)
    latencies: list[float] = []
    failures = 0
    for body in bodies:
        if time.monotonic() >= deadline:
            break
        started = time.perf_counter()
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
        conn.request("POST", path, body=body, headers={"Content-Type": ENVELOPE})
        response = conn.getresponse()
        response.read()
        conn.close()
        latencies.append(time.perf_counter() - started)
        failures += response.status >= 300
    return latencies, failures


def _python_load(url: str, path: str, bodies: Path, *, duration: int, connections: int) -> dict[str, Any]:
    every = read_bodies(bodies)
    started = time.monotonic()
    deadline = started + duration
    shares = [(url, path, every[i::connections], deadline) for i in range(connections)]
    with ProcessPoolExecutor(connections) as pool:
        results = list(pool.map(_python_worker, shares))
    seconds = time.monotonic() - started
    latencies = sorted(x for lat, _ in results for x in lat)
    failures = sum(f for _, f in results)
    return {
        "client": "python",
        "requests": len(latencies),
        "seconds": round(seconds, 2),
        "per_second": round((len(latencies) - failures) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2) if latencies else None,
        "non_2xx": failures,
        "errors": 0,
    }


def _drive(url: str, path: str, bodies: Path, *, client: str, duration: int, connections: int) -> dict[str, Any]:
    if client == "wrk":
        return _wrk(url, path, bodies, duration=duration, connections=connections, threads=min(2, connections))
    return _python_load(url, path, bodies, duration=duration, connections=connections)


@contextmanager
def _process(command: list[str], env: dict[str, str], port: int, probe: str, what: str) -> Iterator[str]:
    """Run ``command`` until the block ends; yield its URL once ``probe`` answers (a busy machine may be slow)."""
    import requests

    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise click.ClickException(f"{what} exited at start:\n{log.read()[-4000:]}")
                try:
                    if requests.get(url + probe, timeout=5).status_code < 500:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise click.ClickException(f"{what} did not start in time")
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _service(env: dict[str, str], port: int, workers: int) -> Any:
    command = [sys.executable, "-m", "lethe", "serve", "--port", str(port), "--workers", str(workers)]
    return _process(command, env, port, "/readyz", "the service")


def _bare_server(keys_file: Path, port: int, workers: int) -> Any:
    env = dict(os.environ, **{BARE_KEY_ENV: str(keys_file)})
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(THREADS),
        "--bind",
        f"127.0.0.1:{port}",
        "lethe.bench.service:bare_app",
    ]
    return _process(command, env, port, "/", "the bare endpoint")


# -- commands -------------------------------------------------------------------------------------


@click.command("verify")
@click.option("--database-url", default="", help="PostgreSQL base URL (a schema of its own is made); default SQLite.")
@click.option("--duration", default=10, show_default=True, type=click.IntRange(1, MAX_DURATION_S), help="Seconds.")
@click.option("--connections", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 16), help="gunicorn workers.")
@click.option("--client", type=click.Choice(["auto", "wrk", "python"]), default="auto", show_default=True)
@click.option("--stays", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--rate-guess",
    default=2500,
    show_default=True,
    help="Envelopes prepared per second of duration: more than the service will verify (each is good once).",
)
@click.option("--skip-bare", is_flag=True, help="Do not measure the bare endpoint.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def bench_verify(
    database_url: str,
    duration: int,
    connections: int,
    workers: int,
    client: str,
    stays: int,
    rate_guess: int,
    skip_bare: bool,
    as_json: bool,
) -> None:
    """Full verifications per second and p99 through gunicorn on loopback, and the bare-endpoint ratio."""
    from lethe.demo import free_port

    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    requests = duration * rate_guess
    with tempfile.TemporaryDirectory(prefix="lethe-bench-") as tmp:
        folder = Path(tmp)
        instance = folder / "instance"
        instance.mkdir(mode=0o700)
        with _database(database_url or None, folder) as url:
            click.echo(f"preparing {requests} sessions and envelopes ({'PostgreSQL' if database_url else 'SQLite'})…")
            verify_bodies, bare_bodies = prepare_verify(url, instance, requests=requests, stays=stays, seed=7)
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("LETHE_") or k == "LETHE_DATA_MIRROR"},
                "LETHE_INSTANCE_PATH": str(instance),
                "LETHE_DATABASE_URL": url,
                "LETHE_CLOCK_SKEW_S": "900",
                "LETHE_RATE_LIMIT_KIOSK": "10000000/minute",
                "LETHE_LOG_LEVEL": "WARNING",
            }
            with _service(env, free_port(), workers) as service_url:
                full = _drive(
                    service_url,
                    "/api/v1/verify",
                    verify_bodies,
                    client=client,
                    duration=duration,
                    connections=connections,
                )
                metrics = __import__("requests").get(service_url + "/metrics", timeout=5).text
            full["outcomes"] = {
                line.split('"')[1]: float(line.split()[-1])
                for line in metrics.splitlines()
                if line.startswith("lethe_verifications_total{")
            }
            if full["non_2xx"]:
                click.echo(
                    f"warning: {full['non_2xx']} of {full['requests']} requests were not answered 2xx; per_second "
                    f"counts the 2xx ones. wrk sends the {requests} prepared envelopes again once it has sent them "
                    "all, and the service refuses those as replays: raise --rate-guess.",
                    err=True,
                )
            result: dict[str, Any] = {
                "database": "postgresql" if database_url else "sqlite",
                "workers": workers,
                "connections": connections,
                "full": full,
            }
            if not skip_bare:
                with _bare_server(instance / "bare-keys.json", free_port(), workers) as bare_url:
                    bare = _drive(bare_url, "/", bare_bodies, client=client, duration=duration, connections=connections)
                result["bare"] = bare
                result["ratio"] = round(full["per_second"] / bare["per_second"], 3) if bare["per_second"] else None
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"full verification ({result['database']}, {workers} workers, {connections} connections, {client}): "
        f"{full['per_second']}/s, p50 {full['p50_ms']} ms, p99 {full['p99_ms']} ms, "
        f"{full['non_2xx']} non-2xx of {full['requests']}; outcomes {full['outcomes']}"
    )
    if "bare" in result:
        bare = result["bare"]
        click.echo(
            f"bare endpoint (X25519 open + one cosine): {bare['per_second']}/s, p99 {bare['p99_ms']} ms; "
            f"ratio {result['ratio']}"
        )


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


@click.command("purge")
@click.option("--database-url", default="", help="PostgreSQL base URL (a schema of its own is made); default SQLite.")
@click.option("--stays", default=100_000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--batch", default=2000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def bench_purge(database_url: str, stays: int, batch: int, as_json: bool) -> None:
    """Time the retention purge of N expired stays, each with a data key and an encrypted template."""
    from sqlalchemy import insert

    from service.stays.retention import purge_all
    from service.storage import migrate
    from service.storage.db import Database
    from service.storage.tables import Stay, StayKey, StoredTemplate

    with tempfile.TemporaryDirectory(prefix="lethe-bench-") as tmp, _database(database_url or None, Path(tmp)) as url:
        migrate.upgrade(url)
        db = Database(url)
        now = dt.datetime.now(dt.UTC)
        past = now.date() - dt.timedelta(days=10)
        started = time.perf_counter()
        for start in range(0, stays, 5000):
            ids = [str(uuid.uuid4()) for _ in range(min(5000, stays - start))]
            with db.transaction() as session:
                session.execute(
                    insert(Stay),
                    [
                        {
                            "id": i,
                            "reference": f"B{start + n:09d}",
                            "guest_name": "Bench",
                            "arrival": past,
                            "departure": past + dt.timedelta(days=1),
                            "status": "checked_in",
                            "secret_fingerprint": "0" * 64,
                            "created_at": now,
                        }
                        for n, i in enumerate(ids)
                    ],
                )
                session.execute(
                    insert(StayKey),
                    [{"stay_id": i, "kek_id": "bench", "wrapped_seed": os.urandom(60), "created_at": now} for i in ids],
                )
                session.execute(
                    insert(StoredTemplate),
                    [
                        {
                            "id": str(uuid.uuid4()),
                            "stay_id": i,
                            "model_id": MODEL,
                            "ciphertext": os.urandom(560),
                            "created_at": now,
                        }
                        for i in ids
                    ],
                )
        filled = time.perf_counter() - started
        started = time.perf_counter()
        report = purge_all(db, actor="bench", batch=batch)
        seconds = time.perf_counter() - started
        db.dispose()
    result = {
        "database": "postgresql" if database_url else "sqlite",
        "stays": stays,
        "batch": batch,
        "fill_s": round(filled, 1),
        "purge_s": round(seconds, 2),
        "per_second": round(stays / seconds, 1),
        "report": report.as_json(),
    }
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"purged {report.expired_stays} expired stays ({report.templates} templates, {report.data_keys} keys) "
        f"on {result['database']} in {seconds:.2f} s ({result['per_second']}/s; batch {batch})"
    )


COMMANDS = (bench_verify, bench_purge)
