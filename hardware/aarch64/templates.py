"""Print the ONNX kiosk's templates of a few frames of a video as JSON on stdout (for check.py).

    python hardware/aarch64/templates.py VIDEO --start N --count K

Each frame with exactly one face is detected, aligned and embedded as the
kiosk does it with the ONNX backend's default embedder (one thread), and its
unit template is printed with the frame's index. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edge.backends import create_backend
from edge.quality import Detector
from edge.sources import VideoFileSource


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=5)
    args = parser.parse_args()
    backend = create_backend("onnx", threads=1)
    detect = Detector(backend, max_width=backend.detect_width, upsample=0)
    found = []
    with VideoFileSource(args.video) as source:
        for frame in source.frames():
            if frame.index >= args.start + args.count:
                break
            if frame.index < args.start or len(faces := detect(frame.image)) != 1:
                continue
            vector = backend.embed(np.ascontiguousarray(frame.image[:, :, ::-1]), faces[0])
            found.append({"frame": frame.index, "template": (vector / np.linalg.norm(vector)).tolist()})
    print(json.dumps({"model": backend.model_id, "templates": found}))


if __name__ == "__main__":
    main()
