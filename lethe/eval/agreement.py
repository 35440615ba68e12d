"""``lethe eval agreement``: dlib's ResNet in dlib-bin and as converted to ONNX, on the same chips.

The ONNX graph (``models/dlib_resnet.py``) claims to be dlib's network, so
that its templates can carry dlib's model id and meet dlib's threshold. This
checks the claim where it matters: each face is found and cut exactly as the
dlib backend cuts it (HOG, dlib's 5-point landmarks, ``dlib.get_face_chip``),
then the chip and its mirror image go through both, and the cosine of each
pair of embeddings is reported; the bar is 0.9999 on every chip.

With ``--dlib-cache`` (an evaluation cache of the dlib backend, ``lethe eval
verification --cache``) dlib-bin's side is read from the cache where it is
there: then each image is compared as the dlib backend's template (the unit
embeddings of chip and mirror added) against the same made from the graph's
two embeddings of the same chip, and the face is chosen as the evaluation
chooses it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
from tqdm import tqdm

from lethe.eval.scoring import EmbeddingStore, _central, centre_box, load_pairs

AGREEMENT = 0.9999


@dataclass(frozen=True)
class Agreement:
    """Cosines between dlib-bin's and the ONNX graph's embeddings of the same chips (numbers only)."""

    cosines: list[float]
    images: int
    no_face: int

    def as_json(self) -> dict[str, Any]:
        values = np.array(self.cosines) if self.cosines else np.array([np.nan])
        return {
            "images": self.images,
            "no_face": self.no_face,
            "chips": len(self.cosines),
            "min_cosine": round(float(values.min()), 7),
            "median_cosine": round(float(np.median(values)), 7),
            "below": int((values < AGREEMENT).sum()),
            "bar": AGREEMENT,
        }


class ChipPair:
    """dlib's detector, 5-point landmarks and ResNet, and the converted graph in onnxruntime (one thread)."""

    def __init__(self) -> None:
        from edge.backends.dlib import DlibEmbedder
        from edge.ort import session
        from models import model_path

        self.dlib = DlibEmbedder()
        self._session = session(str(model_path("dlib-resnet-v1-onnx")), threads=1)

    def cosines(self, rgb: np.ndarray, *, upsample: int) -> list[float] | None:
        """The cosines for the chip of the largest face in ``rgb`` and for its mirror; None without a face."""
        faces = self.dlib.detect(rgb, upsample=upsample)
        if not faces:
            return None
        face = max(faces, key=lambda f: f.width * f.height)
        chip = self.dlib.chip(rgb, face)
        views = np.stack([chip, chip[:, ::-1]])
        (theirs,) = self._session.run(None, {"chips": np.ascontiguousarray(views)})
        found = []
        for view, other in zip(views, theirs, strict=True):
            ours = np.asarray(self.dlib._encoder.compute_face_descriptor(np.ascontiguousarray(view), 0))
            found.append(float(ours @ other / (np.linalg.norm(ours) * np.linalg.norm(other))))
        return found


def measure_templates(pair: ChipPair, paths: list[Path], store: EmbeddingStore) -> Agreement:
    """Templates: dlib's from ``store`` (computed where missing), the graph's from the same chips."""
    from edge.backends.dlib import unit_sum

    cosines: list[float] = []
    for path in tqdm(paths, desc="templates", unit="image", file=sys.stderr):
        theirs = store.get(path)
        (rgb,) = read_rgb([path])
        height, width = rgb.shape[:2]
        faces = pair.dlib.detect(rgb, upsample=store.upsample)
        face = _central(faces, width, height) if faces else centre_box(width, height)
        chip = pair.dlib.chip(rgb, face)
        (ours,) = pair._session.run(None, {"chips": np.ascontiguousarray(np.stack([chip, chip[:, ::-1]]))})
        template = unit_sum(list(ours))
        if theirs is not None:
            cosines.append(float(template @ theirs / np.linalg.norm(template)))
    store.save()
    return Agreement(cosines, len(paths), len(paths) - len(cosines))


def measure(pair: ChipPair, images: Iterable[np.ndarray], *, upsample: int) -> Agreement:
    cosines: list[float] = []
    seen = missed = 0
    for rgb in images:
        seen += 1
        found = pair.cosines(rgb, upsample=upsample)
        if found is None:
            missed += 1
        else:
            cosines += found
    return Agreement(cosines, seen, missed)


def image_files(pairs: Path, images: Path) -> list[Path]:
    """Every image a pairs file names, once each, in a fixed order."""
    return sorted({images / name for pair in load_pairs(pairs, images).pairs for name in (pair.a, pair.b)})


def read_rgb(paths: Iterable[Path]) -> Iterator[np.ndarray]:
    from edge.sources import read_image

    for path in paths:
        yield np.ascontiguousarray(read_image(path)[:, :, ::-1])


def video_frames(path: Path, every: int) -> Iterator[np.ndarray]:
    from edge.sources import VideoFileSource

    with VideoFileSource(path) as source:
        for frame in source.frames():
            if frame.index % every == 0:
                yield np.ascontiguousarray(frame.image[:, :, ::-1])


@click.command("agreement")
@click.option("--pairs", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Pairs file (LFW).")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Its image folder.")
@click.option("--video", "videos", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--every", type=click.IntRange(1), default=1, show_default=True, help="Use every Nth video frame.")
@click.option("--upsample", type=click.IntRange(0, 2), default=1, show_default=True, help="HOG upsampling.")
@click.option(
    "--dlib-cache",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Pairs: compare templates, dlib's read from this dlib evaluation cache (lethe eval verification --cache).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def agreement(
    pairs: Path | None,
    images: Path | None,
    videos: tuple[Path, ...],
    every: int,
    upsample: int,
    dlib_cache: Path | None,
    as_json: bool,
) -> None:
    """Cosine between dlib-bin's and the ONNX graph's embeddings of the same chips (bar: 0.9999 on every chip).

    Faces are found and cut as the dlib backend does (HOG, 5-point landmarks,
    dlib's 150×150 chip); each chip and its mirror go through both. Exit status
    1 when any chip falls below the bar.
    """
    if (pairs is None) != (images is None) or not (pairs or videos):
        raise click.UsageError("give --pairs with --images, and/or --video")
    pair = ChipPair()
    results: dict[str, Any] = {}
    if pairs is not None and images is not None:
        paths = image_files(pairs, images)
        if dlib_cache is not None:
            store = EmbeddingStore(pair.dlib, upsample=upsample, cache=dlib_cache)
            results[str(pairs)] = measure_templates(pair, paths, store).as_json() | {"compared": "templates"}
        else:
            results[str(pairs)] = measure(pair, read_rgb(paths), upsample=upsample).as_json()
    for video in videos:
        results[str(video)] = measure(pair, video_frames(video, every), upsample=upsample).as_json()
    if as_json:
        click.echo(json.dumps(results))
    else:
        for name, row in results.items():
            click.echo(
                f"{name}: {row['chips']} chips of {row['images']} images ({row['no_face']} without a face): "
                f"cosine min {row['min_cosine']}, median {row['median_cosine']}; {row['below']} below {AGREEMENT}"
            )
    if any(row["below"] for row in results.values()):
        raise SystemExit(1)
