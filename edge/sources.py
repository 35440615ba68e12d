"""Frame sources behind one :class:`FrameSource` protocol.

A source is a context manager: entering opens the device or file, leaving
releases it on every path. Frames are BGR ``uint8`` arrays held in memory
only; nothing here writes to disk.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, cast

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
        # OpenCV prints a warning per backend it tried on stderr; the SourceError below says it once, in words.
        previous = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            capture = cv2.VideoCapture(self._target, self._api)
        finally:
            cv2.utils.logging.setLogLevel(previous)
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"cannot open {self.description}{self._why_not()}")
        self._capture = capture
        return self

    def _why_not(self) -> str:
        """Why the target could not be opened, when it can be told without OpenCV."""
        return ""

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

    def _why_not(self) -> str:
        node = Path(self._target if isinstance(self._target, str) else f"/dev/video{self._target}")
        if sys.platform.startswith("linux") and not node.exists():
            cameras = sorted(str(p) for p in Path("/dev").glob("video*"))
            return f": {node} does not exist (cameras here: {', '.join(cameras) or 'none'})"
        return ""

    def frames(self) -> Iterator[Frame]:
        started = time.monotonic()
        index = 0
        while (image := self._read()) is not None:
            yield Frame(image, index, time.monotonic() - started)
            index += 1


class PiCameraSource:
    """The Raspberry Pi camera through picamera2, an optional dependency present only on a Pi.

    Frames come from the ``main`` stream as ``RGB888``, which picamera2 lays out
    as B, G, R: OpenCV's order. Each frame is copied out of its request inside
    ``captured_request()``, so the camera buffer goes back at once; leaving the
    with-block stops and closes the camera.
    """

    def __init__(self, camera: int = 0, *, size: tuple[int, int] = (1280, 720)) -> None:
        self._camera_number = camera
        self._size = size
        self._camera: Any = None
        self.description = f"Raspberry Pi camera {camera}"

    def __enter__(self) -> Self:
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise SourceError(
                "the Raspberry Pi camera needs picamera2, which is not installed "
                "(on Raspberry Pi OS: sudo apt install python3-picamera2, in a venv with --system-site-packages)"
            ) from None
        camera = Picamera2(self._camera_number)
        try:
            camera.configure(camera.create_video_configuration(main={"size": self._size, "format": "RGB888"}))
            camera.start()
        except Exception as exc:
            camera.close()
            raise SourceError(f"cannot start {self.description}: {exc}") from None
        self._camera = camera
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._camera is not None:
            camera, self._camera = self._camera, None
            try:
                camera.stop()
            finally:
                camera.close()

    def frames(self) -> Iterator[Frame]:
        if self._camera is None:
            raise SourceError(f"{self.description} is not open; use it in a with-block")
        started = time.monotonic()
        index = 0
        while self._camera is not None:
            with self._camera.captured_request() as request:
                image = cast(Image, np.array(request.make_array("main")[:, :, :3], dtype=np.uint8))
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


class TappedSource:
    """Another source whose frames are also shown to ``on_frame`` (the screen's preview), until ``stopped()``."""

    def __init__(self, inner: FrameSource, on_frame: Callable[[Image], None], stopped: Callable[[], bool]) -> None:
        self._inner = inner
        self._on_frame = on_frame
        self._stopped = stopped
        self.description = inner.description

    def __enter__(self) -> Self:
        self._inner.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)

    def frames(self) -> Iterator[Frame]:
        for frame in self._inner.frames():
            if self._stopped():
                return
            self._on_frame(frame.image)
            yield frame


def read_image(path: Path) -> Image:
    """Read an image file as BGR; raise :class:`SourceError` if it cannot be decoded."""
    data = np.fromfile(path, dtype=np.uint8) if path.is_file() else np.empty(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise SourceError(f"{path} is not a readable image")
    return cast(Image, image)


def open_source(spec: str, *, realtime: bool = False) -> FrameSource:
    """Choose a source from a command-line spec.

    A camera index (``0``), a V4L2 device (``/dev/video0``), the Raspberry Pi
    camera (``picamera`` or ``picamera:N``), an image file or folder, or a video file.
    """
    if spec == "picamera" or spec.startswith("picamera:"):
        number = spec.partition(":")[2] or "0"
        if not number.isdigit():
            raise SourceError(f"bad camera number in {spec!r}")
        return PiCameraSource(int(number))
    if spec.isdigit():
        return WebcamSource(int(spec))
    if spec.startswith("/dev/video"):
        return WebcamSource(spec)
    path = Path(spec)
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path)
    return VideoFileSource(path, realtime=realtime)
