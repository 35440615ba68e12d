"""Promise 1: frames live only in memory. Every file the capture pipeline opens is watched."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from edge.backends import Embedder
from edge.capture import LiveCapture
from edge.idrecord import id_template_from_image
from edge.settings import KioskSettings
from edge.sources import VideoFileSource
from models import load_manifest

_watching: list[tuple[str, object]] | None = None


def _hook(event: str, args: tuple[object, ...]) -> None:
    if _watching is None:
        return
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        if writing:
            _watching.append((event, path))
    elif event in {"os.rename", "os.replace", "os.truncate", "shutil.copyfile", "os.mkdir"}:
        _watching.append((event, args[0]))


sys.addaudithook(_hook)


def test_capture_and_id_record_open_nothing_for_writing(dlib_backend: Embedder, testdata: Path) -> None:
    global _watching
    threshold = load_manifest().threshold(dlib_backend.model_id)
    _watching = []
    try:
        id_template_from_image(dlib_backend, testdata / "faces/face_recognition/misc/lin-manuel-miranda.png", jitters=1)
        with VideoFileSource(testdata / "video/short_hamilton_clip.mp4") as source:
            LiveCapture(dlib_backend, KioskSettings(), match_threshold=threshold).run(source)
        written = list(_watching)
    finally:
        _watching = None
    assert written == []
