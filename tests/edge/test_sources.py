"""Frame sources: files and folders read in order, released on every path, clear errors."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from edge.errors import SourceError
from edge.sources import ImageSource, PiCameraSource, VideoFileSource, WebcamSource, open_source


def test_video_file_frames_and_timestamps(testdata: Path) -> None:
    with VideoFileSource(testdata / "video/short_hamilton_clip.mp4") as source:
        frames = list(source.frames())
    assert len(frames) == 275
    assert frames[0].image.shape == (360, 640, 3)
    assert frames[30].timestamp_s == pytest.approx(30 / 29.97, rel=1e-3)
    assert "image" not in repr(frames[0])


def test_capture_is_released_even_when_the_block_fails(testdata: Path) -> None:
    source = VideoFileSource(testdata / "video/short_hamilton_clip.mp4")

    def walk_away() -> None:
        with source:
            next(source.frames())
            raise RuntimeError("guest walked away")

    with pytest.raises(RuntimeError):
        walk_away()
    assert source._capture is None
    with pytest.raises(SourceError, match="not open"):
        next(source.frames())


def test_image_file_and_folder(testdata: Path) -> None:
    with ImageSource(testdata / "faces/face_recognition/misc/obama.jpg") as source:
        assert len(list(source.frames())) == 1
    with ImageSource(testdata / "pad/images") as source:
        assert len(list(source.frames())) == 3


def test_open_source_chooses_by_spec(testdata: Path) -> None:
    assert isinstance(open_source(str(testdata / "pad/images")), ImageSource)
    assert isinstance(open_source(str(testdata / "video/short_hamilton_clip.mp4")), VideoFileSource)


def test_missing_and_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        open_source(str(tmp_path / "nope.mp4"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(SourceError, match="cannot open"), VideoFileSource(broken):
        pass
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="holds no images"):
        ImageSource(tmp_path / "empty")


def test_realtime_video_is_paced_to_its_own_clock(testdata: Path) -> None:
    import time

    with VideoFileSource(testdata / "video/short_hamilton_clip.mp4", realtime=True) as source:
        started = time.monotonic()
        frames = [f for f, _ in zip(source.frames(), range(16), strict=False)]
        elapsed = time.monotonic() - started
    assert len(frames) == 16
    assert elapsed >= 15 / 29.97 - 0.01  # never faster than the video's own frame rate


def test_webcam_that_is_not_there(tmp_path: Path) -> None:
    source = open_source("/dev/video-lethe-absent")
    assert isinstance(source, WebcamSource)
    with pytest.raises(SourceError, match="cannot open camera"), source:
        pass


def test_picamera_absent_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # as on a machine without it
    source = open_source("picamera:1")
    assert isinstance(source, PiCameraSource)
    with pytest.raises(SourceError, match="needs picamera2"), source:
        pass
    with pytest.raises(SourceError, match="bad camera number"):
        open_source("picamera:x")


class _Request:
    def __init__(self, camera: _FakePicamera2) -> None:
        self._camera = camera

    def __enter__(self) -> _Request:
        self._camera.held += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._camera.held -= 1

    def make_array(self, stream: str) -> np.ndarray:
        return np.full((self._camera.size[1], self._camera.size[0], 3), 7, np.uint8)


class _FakePicamera2:
    """Stands in for the picamera2 library (hardware), recording how the source drives it."""

    instances: ClassVar[list[_FakePicamera2]] = []

    def __init__(self, number: int) -> None:
        self.number, self.held, self.calls, self.size = number, 0, [], (0, 0)
        _FakePicamera2.instances.append(self)

    def create_video_configuration(self, main: dict) -> dict:
        self.size = main["size"]
        return {"main": main}

    def configure(self, config: dict) -> None:
        self.calls.append("configure")

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")

    def captured_request(self) -> _Request:
        return _Request(self)


def test_picamera_frames_are_copied_and_the_camera_always_released(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=_FakePicamera2))
    source = PiCameraSource(0, size=(64, 48))
    seen = []

    def walk_away() -> None:
        with source:
            frame = next(source.frames())
            seen.append((frame.image.shape, _FakePicamera2.instances[-1].held))
            raise RuntimeError("guest walked away")

    with pytest.raises(RuntimeError):
        walk_away()
    camera = _FakePicamera2.instances[-1]
    assert seen == [((48, 64, 3), 0)]  # copied out; the request went back before the frame was handed out
    assert camera.calls == ["configure", "start", "stop", "close"]


def test_a_missing_camera_is_named_without_opencv_warnings() -> None:
    """Camera index 7 on a machine without it: one SourceError in words, nothing from OpenCV on stderr."""
    if Path("/dev/video7").exists():
        pytest.skip("this machine has a /dev/video7")
    script = (
        "from edge.sources import WebcamSource\n"
        "from edge.errors import SourceError\n"
        "try:\n    WebcamSource(7).__enter__()\n"
        "except SourceError as exc:\n    print(exc.detail)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.startswith("cannot open camera 7: /dev/video7 does not exist (cameras here:")
    assert done.stderr == ""
