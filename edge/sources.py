"""Frame sources behind one :class:`FrameSource` protocol.

A source is a context manager: entering opens the device or file, leaving
releases it on every path. Frames are BGR ``uint8`` arrays held in memory
only; nothing here writes to disk.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, cast

import cv2
import numpy as np
import numpy.typing as npt

from edge.errors import SourceError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
Image = npt.NDArray[np.uint8]


@dataclass(frozen=True, eq=False)
class Frame:
    """One camera or video frame. ``timestamp_s`` is time since the source started."""

    image: Image = field(repr=False)
    index: int
    timestamp_s: float


class FrameSource(Protocol):
    description: str

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def frames(self) -> Iterator[Frame]: ...


class _CaptureSource:
    """A source read through ``cv2.VideoCapture`` (a file or a camera)."""

    def __init__(self, target: str | int, description: str, *, realtime: bool, api: int = cv2.CAP_ANY) -> None:
        self._target = target
        self._api = api
        self._capture: cv2.VideoCapture | None = None
        self.description = description
        self.realtime = realtime

    def __enter__(self) -> Self:
        capture = cv2.VideoCapture(self._target, self._api)
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"cannot open {self.description}")
        self._capture = capture
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _opened(self) -> cv2.VideoCapture:
        if self._capture is None:
            raise SourceError(f"{self.description} is not open; use it in a with-block")
        return self._capture

    def _read(self) -> Image | None:
        ok, image = self._opened().read()
        return cast(Image, image) if ok else None


class VideoFileSource(_CaptureSource):
    """A recorded video. Timestamps follow the video's own clock; ``realtime`` also paces reading to it."""

    def __init__(self, path: Path, *, realtime: bool = False) -> None:
        if not path.is_file():
            raise SourceError(f"video file {path} does not exist")
        super().__init__(str(path), f"video file {path.name}", realtime=realtime)

    def frames(self) -> Iterator[Frame]:
        fps = self._opened().get(cv2.CAP_PROP_FPS) or 30.0
        started = time.monotonic()
        index = 0
        while (image := self._read()) is not None:
            timestamp = index / fps
            if self.realtime and (delay := timestamp - (time.monotonic() - started)) > 0:
                time.sleep(delay)
            yield Frame(image, index, timestamp)
            index += 1


class WebcamSource(_CaptureSource):
    """A camera by index (``0``) or V4L2 device path (``/dev/video0``); wall-clock timestamps."""

    def __init__(self, device: int | str) -> None:
        api = cv2.CAP_V4L2 if isinstance(device, str) else cv2.CAP_ANY
        super().__init__(device, f"camera {device}", realtime=True, api=api)

    def frames(self) -> Iterator[Frame]:
        started = time.monotonic()
        index = 0
        while (image := self._read()) is not None:
            yield Frame(image, index, time.monotonic() - started)
            index += 1


class ImageSource:
    """One image file, or every image in a folder (sorted by name), as frames one second apart."""

    def __init__(self, path: Path) -> None:
        if path.is_dir():
            self._paths = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            self._paths = [path]
        else:
            raise SourceError(f"{path} does not exist")
        if not self._paths:
            raise SourceError(f"{path} holds no images")
        self.description = f"image {'folder' if path.is_dir() else 'file'} {path.name}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def frames(self) -> Iterator[Frame]:
        for index, path in enumerate(self._paths):
            yield Frame(read_image(path), index, float(index))


def read_image(path: Path) -> Image:
    """Read an image file as BGR; raise :class:`SourceError` if it cannot be decoded."""
    data = np.fromfile(path, dtype=np.uint8) if path.is_file() else np.empty(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise SourceError(f"{path} is not a readable image")
    return cast(Image, image)


def open_source(spec: str, *, realtime: bool = False) -> FrameSource:
    """Choose a source from a command-line spec: a camera index, ``/dev/video*``, an image or folder, or a video."""
    if spec.isdigit():
        return WebcamSource(int(spec))
    if spec.startswith("/dev/video"):
        return WebcamSource(spec)
    path = Path(spec)
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path)
    return VideoFileSource(path, realtime=realtime)
