"""The repository's nginx configuration (``deploy/nginx/lethe.conf``) run in front of a test service, over HTTPS
with a certificate from a throw-away CA."""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lethe.demo import free_port
from tests.helpers import ROOT

SITE = ROOT / "deploy" / "nginx" / "lethe.conf"
HOST = "localhost"  # the name the test certificate is for and the clients use
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass(frozen=True)
class Authority:
    ca_file: Path
    cert_file: Path
    key_file: Path


def throwaway_ca(folder: Path, host: str = HOST) -> Authority:
    """A CA made for this test only, and a server certificate it signs for ``host`` and 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lethe test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    authority = Authority(folder / "ca.pem", folder / "fullchain.pem", folder / "privkey.pem")
    authority.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    authority.cert_file.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    )
    authority.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    authority.key_file.chmod(0o600)
    return authority


def site_config(authority: Authority, *, https_port: int, http_port: int, upstream_port: int) -> str:
    """``deploy/nginx/lethe.conf`` with this test's ports, host name and certificate put in."""
    text = SITE.read_text()
    replacements = {
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{upstream_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "server_name lethe.example.com;": f"server_name {HOST};",
        "/etc/lethe/tls/fullchain.pem": str(authority.cert_file),
        "/etc/lethe/tls/privkey.pem": str(authority.key_file),
    }
    for old, new in replacements.items():
        assert old in text, f"{SITE} no longer has {old!r}: update the test's substitutions"
        text = text.replace(old, new)
    return text


@dataclass(frozen=True)
class Proxy:
    url: str  # https://localhost:PORT
    http_url: str
    ca_file: Path
    log: Path


@contextlib.contextmanager
def nginx(folder: Path, upstream_port: int, *, worker_connections: int = 4096) -> Iterator[Proxy]:
    """nginx with the repository's site configuration in front of ``upstream_port``, until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    authority = throwaway_ca(folder)
    https_port, http_port = free_port(), free_port()
    (folder / "site.conf").write_text(
        site_config(authority, https_port=https_port, http_port=http_port, upstream_port=upstream_port)
    )
    # What Debian's /etc/nginx/nginx.conf gives the site, with the paths of this test's folder.
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (folder / "nginx.conf").write_text(
        f"""{user}
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections {worker_connections}; }}
http {{
    access_log off;
{temp}
    include {folder / "site.conf"};
}}
"""
    )
    check = subprocess.run(
        [NGINX, "-t", "-e", str(folder / "error.log"), "-p", str(folder), "-c", str(folder / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    with subprocess.Popen(
        [
            NGINX,
            "-e",
            str(folder / "error.log"),
            "-p",
            str(folder),
            "-c",
            str(folder / "nginx.conf"),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as process:
        try:
            _wait_for_tls(process, https_port, authority.ca_file)
            yield Proxy(
                f"https://{HOST}:{https_port}",
                f"http://{HOST}:{http_port}",
                authority.ca_file,
                folder / "error.log",
            )
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_for_tls(process: subprocess.Popen[bytes], port: int, ca_file: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca_file))
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, "nginx exited at start"
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
                context.wrap_socket(raw, server_hostname=HOST),
            ):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)
