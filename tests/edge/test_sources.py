"""Frame sources: files and folders read in order, released on every path, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.errors import SourceError
from edge.sources import ImageSource, VideoFileSource, open_source


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
