"""Face backends: detection and embedding behind one :class:`Embedder` protocol.

Backends register under a type key and are built on demand, so importing this
package loads no model. Every backend produces templates tagged with the model
id of its embedder, whose threshold the service reads from the manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge.errors import ConfigurationError

RGBImage = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class FaceBox:
    """A detected face in pixel coordinates of the image it was found in."""

    left: int
    top: int
    right: int
    bottom: int
    score: float = 1.0

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
        )

    def clipped(self, width: int, height: int) -> FaceBox:
        return FaceBox(
            max(0, self.left), max(0, self.top), min(width, self.right), min(height, self.bottom), self.score
        )


class Embedder(Protocol):
    """Detects faces and turns one face into an embedding vector."""

    model_id: str

    def detect(self, rgb: RGBImage, *, upsample: int = 0) -> list[FaceBox]:
        """Return every face in ``rgb``."""
        ...

    def embed(self, rgb: RGBImage, face: FaceBox, *, jitters: int = 1) -> npt.NDArray[np.float64]:
        """Return the raw (not yet normalised) embedding of ``face`` in ``rgb``."""
        ...


_FACTORIES: dict[str, Callable[[], Embedder]] = {}


def register(name: str) -> Callable[[Callable[[], Embedder]], Callable[[], Embedder]]:
    def decorator(factory: Callable[[], Embedder]) -> Callable[[], Embedder]:
        _FACTORIES[name] = factory
        return factory

    return decorator


def create_backend(name: str) -> Embedder:
    """Build backend ``name`` (this loads and verifies its models)."""
    from edge.backends import dlib as _dlib  # noqa: F401 - registers "dlib"

    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ConfigurationError(f"unknown backend {name!r}; known: {', '.join(sorted(_FACTORIES))}") from None
    return factory()
