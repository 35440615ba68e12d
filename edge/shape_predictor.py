"""dlib's 68-point shape predictor, read from dlib's own file and run in NumPy, in half dlib's memory.

The predictor is an ensemble of regression trees (Kazemi and Sullivan, CVPR
2014): 15 cascade levels of 500 depth-4 trees. Each level samples 500 pixel
intensities at points placed relative to the current shape estimate; each tree
compares pairs of them to reach one of its 16 leaves, and every reached leaf
adds a 136-value update to the shape. dlib holds those 120,000 leaves as
float32 (65 MB resident, plus its library, 5–9 MB); here each leaf is int16
with a float32 scale of its own (33 MB), which moves a value by at most
1/65,534 of the leaf's largest one.

The trees are discontinuous, so any change in the last bits moves some faces'
landmarks. With float32 leaves added one tree at a time, as dlib adds them,
this code gave dlib's points exactly on all 566 faces tried during
development; summing the same float32 leaves in another order already moved
84 of them by 1–4 px. With int16 leaves about one face in five differs from
dlib by 1–5 px somewhere, and the quality gate and the challenges decide as
with dlib's points on all but one of about 700 frames of the recorded test
videos (``tests/edge/test_shape_predictor.py``).

dlib's file is a stream of variable-length integers and floats. It is read a
slice of about 1 MB at a time, so the 100 MB file is never held in memory: the
shape matrices (the mean shape and every leaf) start with the same four bytes,
so they are found first and then decoded side by side, one value of all of
them at a time; the splits between them and the sampling points after them
are decoded the same way or in order. About 0.9 s on one core, as long as
dlib's own loader takes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from edge.errors import ConfigurationError
from models.dlib_format import DlibFormatError, DlibStream

Points = npt.NDArray[np.float64]
Offsets = npt.NDArray[np.int64]
Bytes = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]

_SLICE_BYTES = 1 << 20  # the most of the file decoded at once (bounds the memory reading takes)
_PAD = bytes(16)  # after each slice, so every token's bytes can be gathered without a bounds check
_INT16_MAX = 32767


def _format_error(what: str) -> ConfigurationError:
    return ConfigurationError(f"not a dlib shape predictor file this reader knows: {what}")


def _ints(buf: Bytes, at: Offsets) -> tuple[Offsets, Offsets]:
    """dlib's packed integers starting at the byte offsets ``at``: their values, and the offsets after them.

    dlib writes an integer as one byte (sign in bit 7, byte count in bits 0–3)
    and then that many little-endian bytes of its magnitude.
    """
    head = buf[at].astype(np.int64)
    size = head & 0x7F
    if at.size and (size.min() < 1 or size.max() > 8):
        raise _format_error("an integer's header is malformed")
    value = np.zeros(at.shape, np.int64)
    for k in range(int(size.max()) if at.size else 0):
        value |= np.where(k < size, buf[at + 1 + k].astype(np.int64) << (8 * k), 0)
    return np.where(head & 0x80, -value, value), at + 1 + size


def _float32s(buf: Bytes, at: Offsets) -> tuple[Floats, Offsets]:
    """dlib's encodings of float32 values starting at ``at`` (any shape): the values and the offsets after them.

    dlib writes a float as a packed integer mantissa and a packed binary
    exponent; a float32's mantissa has at most 24 bits and its exponent fits
    one byte, so every value is 1 + 1–3 + 1 + 1 bytes.
    """
    head = buf[at]
    size = head & 0x7F
    exponent_at = at + 1 + size
    exponent_head = buf[exponent_at]
    if size.min() < 1 or size.max() > 3 or ((exponent_head & 0x7F) != 1).any():
        raise _format_error("a value that is not a float32")
    mantissa = buf[at + 1].astype(np.int32)
    for k in (1, 2):
        mantissa |= np.where(size > k, buf[at + 1 + k].astype(np.int32) << (8 * k), 0)
    exponent = buf[exponent_at + 1].astype(np.int32)
    signed = np.where(head & 0x80, -mantissa, mantissa).astype(np.float32)
    values = np.ldexp(signed, np.where(exponent_head & 0x80, -exponent, exponent))
    return cast(Floats, values), exponent_at + 2


def _find_all(f: int, size: int, marker: bytes) -> Offsets:
    """Every offset of ``marker`` in the open file ``f``, read in slices."""
    found: list[int] = []
    for start in range(0, size, _SLICE_BYTES):
        chunk = os.pread(f, _SLICE_BYTES + len(marker) - 1, start)  # overlapping: a marker may straddle slices
        at = chunk.find(marker)
        while at != -1:
            found.append(start + at)
            at = chunk.find(marker, at + 1)
    return np.unique(np.array(found, np.int64))


def _read(f: int, start: int, stop: int) -> Bytes:
    data = os.pread(f, stop - start, start)
    if len(data) != stop - start:
        raise _format_error("the file ends early")
    return np.frombuffer(data + _PAD, np.uint8)


def _matrices(
    f: int, at: Offsets, stop: int, header: int, length: int
) -> tuple[Floats, npt.NDArray[np.int16], Floats, Offsets]:
    """Decode the shape matrices (``header`` bytes, then ``length`` floats) starting at ``at``, side by side.

    A slice of the file at a time. Returns the first matrix as float32 (the mean
    shape), the others as int16 with one float32 scale each (value = int16 ×
    scale), and every matrix's end.
    """
    quantised = np.empty((at.size - 1, length), np.int16)
    scales = np.empty(at.size - 1, np.float32)
    ends = np.empty(at.size, np.int64)
    first = 0
    while first < at.size:
        last = max(first + 1, int(np.searchsorted(at, at[first] + _SLICE_BYTES)))
        buf = _read(f, int(at[first]), int(at[last]) if last < at.size else stop)
        # Where each value starts (a value is 3 bytes and its mantissa's, which its first byte tells),
        # found for all matrices of the slice together; then every value is decoded at once.
        starts = np.empty((last - first, length), np.int64)
        offsets = at[first:last] - at[first] + header
        for column in range(length):
            starts[:, column] = offsets
            offsets = offsets + 3 + (buf[offsets] & 0x0F)
        ends[first:last] = offsets + at[first]
        values, _ = _float32s(buf, starts)
        if first == 0:
            initial, values = values[0].copy(), values[1:]
        peak = np.abs(values).max(axis=1)
        scale = np.where(peak > 0, peak / _INT16_MAX, 1.0).astype(np.float32)
        span = slice(max(first - 1, 0), last - 1)
        scales[span] = scale
        quantised[span] = np.round(values / scale[:, None])
        first = last
    return initial, quantised, scales, ends


class ShapePredictor:
    """An ensemble of regression trees predicting N landmarks, as dlib's ``shape_predictor`` does.

    Shapes: ``initial`` (N, 2) the mean shape in the unit square of the face
    box; per level ``anchors`` (L, F) the landmark each sampled pixel follows
    and ``deltas`` (L, F, 2) its offset in the mean shape's units; ``splits``
    (L, 2, T·S) the two sampled pixels each split compares, ``thresholds`` (L,
    T·S); ``leaves`` (L, T·(S+1), 2N) int16 and ``scales`` (L, T·(S+1)): a
    leaf's update is ``leaves × scale``. Trees are complete binary trees of S
    splits, stored breadth first.
    """

    def __init__(
        self,
        initial: Floats,
        anchors: npt.NDArray[np.intp],
        deltas: Floats,
        splits: npt.NDArray[np.intp],
        thresholds: Floats,
        leaves: npt.NDArray[np.int16],
        scales: Floats,
    ) -> None:
        levels, split_count = thresholds.shape
        trees = leaves.shape[1] - split_count
        self.depth = int(np.log2(leaves.shape[1] // trees))
        if leaves.shape[1] != trees * 2**self.depth or anchors.shape[0] != levels or initial.size != leaves.shape[2]:
            raise _format_error("the trees, levels and shape sizes disagree")
        self.initial, self.anchors, self.deltas = initial, anchors, deltas
        self.splits, self.thresholds, self.leaves, self.scales = splits, thresholds, leaves, scales
        # The mean shape centred, and turned a quarter: against any shape they give the similarity's terms.
        centred = initial - initial.mean(axis=0)
        spread = float((centred * centred).sum())
        self._along = (centred / spread).ravel()
        self._across = (np.stack([-centred[:, 1], centred[:, 0]], axis=1) / spread).ravel()
        self._trees = np.arange(trees) * (2**self.depth - 1)  # each tree's first split
        self._first_leaf = np.arange(trees) * 2**self.depth - (2**self.depth - 1)  # plus the leaf's node number

    @classmethod
    def from_dlib(cls, path: Path) -> ShapePredictor:
        """Read a predictor that dlib wrote (``serialize(shape_predictor)``, format version 1)."""
        with path.open("rb") as file:
            f = file.fileno()
            size = os.fstat(f).st_size
            start = DlibStream(os.pread(f, 2, 0))
            if (version := start.next_int()) != 1:
                raise _format_error(f"the format version is {version}, expected 1")
            # A matrix starts with its size (-rows, -1 column); every shape matrix has the mean shape's.
            stream = DlibStream(os.pread(f, 16, start.at))
            rows, columns = -stream.next_int(), -stream.next_int()
            at = _find_all(f, size, os.pread(f, stream.at, start.at))
            if at.size < 2 or at[0] != start.at or columns != 1:
                raise _format_error("no mean shape where it belongs")
            try:
                initial, leaves, scales, ends = _matrices(f, at, size, stream.at, rows)
                return _assemble(f, size, initial.reshape(-1, 2), leaves, scales, at, ends)
            except IndexError:
                raise _format_error("values run past the end of the file") from None
            except DlibFormatError as exc:
                raise _format_error(str(exc)) from None

    def points(self, bgr: npt.NDArray[np.uint8], box: tuple[int, int, int, int]) -> Points:
        """The landmarks (N, 2) of the face in ``box`` (left, top, right, bottom) of ``bgr``, in whole pixels.

        A pixel's intensity is the integer mean of its three channels, and points
        are rounded to the nearest pixel, as dlib does. About 2 ms per face.
        """
        left, top, right, bottom = box
        height, width = bgr.shape[:2]
        scale = np.array([right - left, bottom - top], np.float64)
        origin = np.array([left, top], np.float64)
        pixels = bgr.reshape(-1, 3)
        shape = self.initial.copy()
        flat = shape.reshape(-1)
        for level in range(self.anchors.shape[0]):
            # Sampling points follow the least-squares similarity (rotation and scale) from the mean shape.
            a, b = float(self._along @ flat), float(self._across @ flat)
            sampled = self.deltas[level] @ np.array([[a, b], [-b, a]], np.float32) + shape[self.anchors[level]]
            pixel = np.floor(sampled.astype(np.float64) * scale + origin + 0.5).astype(np.intp)
            x, y = pixel[:, 0], pixel[:, 1]
            inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
            colours = np.take(pixels, np.where(inside, y * width + x, 0), axis=0)
            intensity = np.where(inside, colours.sum(axis=1, dtype=np.int32) // 3, 0).astype(np.float32)
            # Every split of every tree at once, then each tree's path down its own splits.
            first, second = intensity[self.splits[level, 0]], intensity[self.splits[level, 1]]
            go_right = (first - second <= self.thresholds[level]).view(np.uint8)
            node = np.zeros(self._trees.size, np.intp)
            for _ in range(self.depth):
                node = 2 * node + 1 + go_right[self._trees + node]
            leaf = self._first_leaf + node
            flat += self.scales[level, leaf] @ np.take(self.leaves[level], leaf, axis=0).astype(np.float32)
        return cast(Points, np.floor(shape.astype(np.float64) * scale + origin + 0.5))


def _assemble(
    f: int,
    size: int,
    initial: Floats,
    leaves: npt.NDArray[np.int16],
    scales: Floats,
    at: Offsets,
    ends: Offsets,
) -> ShapePredictor:
    """Check the file's structure around the shape matrices, read the splits and sampling points, build the model.

    Each tree is its splits followed by its leaves, back to back; so a tree's
    leaves are a run of matrices that end where the next begins, and the bytes
    between runs hold the next tree's splits (after the level's tree count when
    a level starts, and the level count before the first).
    """
    last_of_run = np.flatnonzero(ends[:-1] != at[1:])
    if not last_of_run.size or last_of_run[0] != 0:
        raise _format_error("no trees after the mean shape")
    first_leaf = last_of_run + 1
    leaf_count = np.diff(np.append(first_leaf, at.size))
    per_tree = int(leaf_count[0])
    if (leaf_count != per_tree).any():
        raise _format_error("trees of different sizes")
    gaps = [os.pread(f, int(at[b] - ends[a]), int(ends[a])) for a, b in zip(last_of_run, first_leaf, strict=True)]
    buf = np.frombuffer(b"".join(gaps) + _PAD, np.uint8)
    gap_ends = np.cumsum([len(g) for g in gaps])
    pos = np.concatenate([[0], gap_ends[:-1]]).astype(np.int64)
    head = DlibStream(gaps[0])
    levels, trees = head.next_int(), head.next_int()
    if levels * trees != pos.size:
        raise _format_error(f"{pos.size} trees, not {levels} levels of {trees}")
    pos[0] = head.at
    level_starts = np.arange(trees, pos.size, trees)
    count, pos[level_starts] = _ints(buf, pos[level_starts])
    if (count != trees).any():
        raise _format_error("levels of different sizes")
    split_count, pos = _ints(buf, pos)
    if (split_count != per_tree - 1).any():
        raise _format_error("trees that are not complete binary trees")
    splits = np.empty((pos.size, per_tree - 1, 2), np.intp)
    thresholds = np.empty((pos.size, per_tree - 1), np.float32)
    for k in range(per_tree - 1):
        splits[:, k, 0], pos = _ints(buf, pos)
        splits[:, k, 1], pos = _ints(buf, pos)
        thresholds[:, k], pos = _float32s(buf, pos)
    count, pos = _ints(buf, pos)
    if (count != per_tree).any() or (pos != gap_ends).any():
        raise _format_error("splits that do not end where the leaves begin")
    tail = DlibStream(os.pread(f, size - int(ends[-1]), int(ends[-1])))
    tail.expect(levels, "the number of anchor lists")
    anchors = [[tail.next_int() for _ in range(tail.next_int())] for _ in range(levels)]
    tail.expect(levels, "the number of delta lists")
    deltas = [[(tail.next_float(), tail.next_float()) for _ in range(tail.next_int())] for _ in range(levels)]
    if int(ends[-1]) + tail.at != size:
        raise _format_error("bytes after the sampling points")
    anchor_array = np.array(anchors, np.intp)
    if anchor_array.ndim != 2 or (splits >= anchor_array.shape[1]).any() or anchor_array.max() >= len(initial):
        raise _format_error("split or anchor indices out of range")
    return ShapePredictor(
        initial=initial,
        anchors=anchor_array,
        deltas=np.array(deltas, np.float32),
        splits=np.ascontiguousarray(splits.reshape(levels, -1, 2).transpose(0, 2, 1)),
        thresholds=thresholds.reshape(levels, -1),
        leaves=leaves.reshape(levels, trees * per_tree, -1),
        scales=scales.reshape(levels, -1),
    )
