"""Sample media (photos and videos for the demo and tests), named in ``media.toml``."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from models.artifacts import ArtifactError, fetch_file, verify_file

MEDIA_MANIFEST = Path(__file__).with_name("media.toml")


class MediaError(ArtifactError):
    """A sample file is unknown, missing or fails its hash check."""


@dataclass(frozen=True)
class MediaEntry:
    name: str
    path: str
    sha256: str
    url: str
    what: str


@cache
def load_media() -> dict[str, MediaEntry]:
    with MEDIA_MANIFEST.open("rb") as f:
        raw = tomllib.load(f)["media"]
    return {name: MediaEntry(name=name, **fields) for name, fields in raw.items()}


def data_mirror() -> Path | None:
    """The data mirror folder named by ``LETHE_DATA_MIRROR``, if set."""
    configured = os.environ.get("LETHE_DATA_MIRROR")
    return Path(configured) if configured else None


def media_cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lethe" / "media"


def _entry(name: str) -> MediaEntry:
    media = load_media()
    if name not in media:
        raise MediaError(f"unknown sample media {name!r}; known: {', '.join(sorted(media))}")
    return media[name]


def media_path(name: str, *, mirror: Path | None = None) -> Path:
    """Return the verified local path of sample ``name``, or raise saying what to do."""
    entry = _entry(name)
    mirror = mirror if mirror is not None else data_mirror()
    for path in ([mirror / entry.path] if mirror else []) + [media_cache_dir() / entry.path]:
        if path.is_file():
            try:
                return verify_file(path, entry.sha256)
            except ArtifactError as exc:
                raise MediaError(str(exc)) from None
    where = f"{mirror / entry.path} does not exist" if mirror else "LETHE_DATA_MIRROR is not set"
    raise MediaError(
        f"sample media {name!r} is missing ({where}). Either set LETHE_DATA_MIRROR to the folder that "
        f"holds testdata/ (e.g. ../shared), or with internet access run: lethe media fetch {name}"
    )


def fetch_media(name: str, *, mirror: Path | None = None) -> Path:
    """Copy sample ``name`` from the mirror, or download it, into the media cache."""
    entry = _entry(name)
    mirror = mirror if mirror is not None else data_mirror()
    mirror_file = mirror / entry.path if mirror else None
    try:
        return fetch_file(media_cache_dir() / entry.path, entry.sha256, mirror_file=mirror_file, url=entry.url)
    except ArtifactError as exc:
        raise MediaError(str(exc)) from None
