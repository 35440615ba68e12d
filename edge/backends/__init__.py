"""Face backends: detection and embedding behind one :class:`Embedder` protocol.

Backends register under a type key and are built on demand, so importing this
package loads no model. Every backend produces templates tagged with the model
id of its embedder, whose threshold the service reads from the manifest.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from edge.errors import ConfigurationError

RGBImage = npt.NDArray[np.uint8]
Points = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class FaceBox:
    """A detected face in pixel coordinates of the image it was found in.

    ``points`` are the detector's five landmarks when it gives them (YuNet: the
    eye in the image's left, the other eye, nose tip, mouth corners left and
    right), in the same pixel coordinates; ``None`` for detectors without them.
    """

    left: int
    top: int
    right: int
    bottom: int
    score: float = 1.0
    points: Points | None = None

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def scaled(self, factor: float) -> FaceBox:
        return FaceBox(
            round(self.left * factor),
            round(self.top * factor),
            round(self.right * factor),
            round(self.bottom * factor),
            self.score,
            None if self.points is None else tuple((x * factor, y * factor) for x, y in self.points),
        )

    def clipped(self, width: int, height: int) -> FaceBox:
        """The box cut to the image; landmarks are kept as they are (alignment may use points outside)."""
        return FaceBox(
            max(0, self.left),
            max(0, self.top),
            min(width, self.right),
            min(height, self.bottom),
            self.score,
            self.points,
        )


class Embedder(Protocol):
    """Detects faces and turns one face into an embedding vector."""

    model_id: str
    pipeline: str
    """How a face becomes the embedding (alignment, views): templates of the same model made another
    way score differently, so the evaluation cache keys on it."""
    detect_width: int
    """The frame width the kiosk downscales to for this detector (``LETHE_KIOSK_DETECT_WIDTH`` overrides it)."""
    frames_to_fuse: int
    """How many of a capture's best frames its live template averages (``LETHE_KIOSK_FRAMES_TO_FUSE``
    overrides it): fewer where each embedding costs more."""

    def detect(self, rgb: RGBImage, *, upsample: int = 0) -> list[FaceBox]:
        """Return every face in ``rgb``."""
        ...

    def embed(self, rgb: RGBImage, face: FaceBox, *, jitters: int = 1) -> npt.NDArray[np.float64]:
        """Return the raw (not yet normalised) embedding of ``face`` in ``rgb``."""
        ...


Factory = Callable[..., Embedder]
_FACTORIES: dict[str, Factory] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    def decorator(factory: Factory) -> Factory:
        _FACTORIES[name] = factory
        return factory

    return decorator


def create_backend(name: str, **options: Any) -> Embedder:
    """Build backend ``name`` (this loads and verifies its models).

    ``options`` go to the backend's factory (the ONNX backend takes ``embedder``
    and ``threads``); a backend that takes none refuses any.
    """
    from edge.backends import dlib as _dlib  # noqa: F401 - registers "dlib"
    from edge.backends import onnx as _onnx  # noqa: F401 - registers "onnx"

    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ConfigurationError(f"unknown backend {name!r}; known: {', '.join(sorted(_FACTORIES))}") from None
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise ConfigurationError(f"backend {name!r}: {exc}") from None
    return factory(**options)
