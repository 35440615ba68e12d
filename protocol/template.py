"""The face template: an L2-normalised float32 embedding tagged with its model id.

Wire layout (all integers big-endian)::

    version:u8 = 0x01 | dtype:u8 = 0x01 (float32 LE) | dim:u16 | id_len:u8 | model_id | dim × f32

Templates from different models never meet: the model id travels with the vector.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from protocol.errors import InvalidTemplate

TEMPLATE_VERSION = 0x01
DTYPE_FLOAT32_LE = 0x01
MAX_DIMENSION = 4096
NORM_TOLERANCE = 1e-3
_MODEL_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_HEAD = struct.Struct(">BBHB")

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class Template:
    """A face template. Its ``repr`` never shows the vector."""

    model_id: str
    vector: Vector = field(repr=False)

    def __post_init__(self) -> None:
        if not _MODEL_ID.fullmatch(self.model_id):
            raise InvalidTemplate("model id must match [a-z0-9][a-z0-9._-]{0,63}")
        v = self.vector
        if v.dtype != np.float32 or v.ndim != 1 or not 1 <= v.shape[0] <= MAX_DIMENSION:
            raise InvalidTemplate("template vector must be 1-D float32 of 1..4096 values")
        square = float(np.dot(v, v))  # one pass for both checks: any inf or NaN makes it non-finite
        if not math.isfinite(square):
            raise InvalidTemplate("template vector has non-finite values")
        if abs(math.sqrt(square) - 1.0) > NORM_TOLERANCE:
            raise InvalidTemplate("template vector is not L2-normalised")
        v.setflags(write=False)

    def __repr__(self) -> str:
        return f"Template(model_id={self.model_id!r}, dim={self.dimension})"

    @property
    def dimension(self) -> int:
        return int(self.vector.shape[0])

    @classmethod
    def from_embedding(cls, model_id: str, embedding: npt.ArrayLike) -> Template:
        """Build a template from a raw embedding, L2-normalising it.

        Raises :class:`~protocol.errors.InvalidTemplate` for a zero or non-finite vector.
        """
        v = np.asarray(embedding, dtype=np.float64).reshape(-1)
        norm = float(np.linalg.norm(v))
        if not np.isfinite(norm) or norm == 0.0:
            raise InvalidTemplate("cannot normalise a zero or non-finite embedding")
        return cls(model_id, (v / norm).astype(np.float32))


def encode_template(template: Template) -> bytes:
    """Return the canonical bytes of ``template``."""
    model = template.model_id.encode("ascii")
    head = _HEAD.pack(TEMPLATE_VERSION, DTYPE_FLOAT32_LE, template.dimension, len(model))
    return head + model + template.vector.astype("<f4").tobytes()


def decode_template(data: bytes) -> Template:
    """Parse template bytes strictly: exact length, known version and dtype, unit norm."""
    if len(data) < _HEAD.size:
        raise InvalidTemplate("template too short")
    version, dtype, dim, id_len = _HEAD.unpack_from(data)
    if version != TEMPLATE_VERSION:
        raise InvalidTemplate(f"unknown template version {version}")
    if dtype != DTYPE_FLOAT32_LE:
        raise InvalidTemplate(f"unknown template dtype {dtype}")
    if len(data) != _HEAD.size + id_len + 4 * dim:
        raise InvalidTemplate("template length does not match its header")
    try:
        model_id = data[_HEAD.size : _HEAD.size + id_len].decode("ascii")
    except UnicodeDecodeError:
        raise InvalidTemplate("model id is not ASCII") from None
    vector = np.frombuffer(data, dtype="<f4", offset=_HEAD.size + id_len).astype(np.float32)
    return Template(model_id, vector)
