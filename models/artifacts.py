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
import tempfile
import urllib.request
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
