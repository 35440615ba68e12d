"""The secret rotation that makes a guest's templates unlinkable across stays.

The kiosk draws a Haar-random orthogonal matrix ``Q`` from the booking code's
transform key and sends ``Q·t`` instead of each template ``t``. Cosine
similarity is unchanged (``⟨Qa, Qb⟩ = ⟨a, b⟩``), so matching is unchanged;
but a unit vector rotated by an unknown Haar-random ``Q`` is uniform on the
sphere whatever the face, so the templates of one guest under two booking
codes are independent of each other.

Derivation (specified in ``docs/protocol.md``, known answers in
``tests/data/protocol_vectors.json``)::

    matrix key = HKDF-SHA256(transform key, salt = none,
                             info = "lethe/v2 template-rotation\\0" ‖ model id ‖ 0x00 ‖ dim:u16, L = 32)
    stream     = AES-256-CTR(matrix key, counter block = 16 zero bytes) over zero bytes
    u          = (uint64 LE of each 8 stream bytes >> 11) + 0.5) · 2⁻⁵³     (uniform in (0, 1))
    G          = Box–Muller of consecutive pairs (u₁, u₂), row-major dim × dim
    Q, R       = QR(G);  Q ← Q · diag(sign(diag(R)))                   (Mezzadri's correction)

The matrix is built in float64 and lives only for one check-in on the kiosk.
The QR runs on one BLAS thread. LAPACK and libm may still differ in the last
bits between machines; that moves a cosine score by about 1e-15, far below
float32 precision, so a template rotated at one kiosk still matches one
rotated at another.
"""

from __future__ import annotations

import functools
import struct

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from threadpoolctl import ThreadpoolController

from protocol.booking import TRANSFORM_KEY_LENGTH
from protocol.template import MAX_DIMENSION, Template

ROTATION_INFO = b"lethe/v2 template-rotation\x00"

Matrix = npt.NDArray[np.float64]


class Rotation:
    """The secret orthogonal matrix of one booking code and one model. Its ``repr`` hides the matrix."""

    __slots__ = ("_matrix", "dimension", "model_id")

    def __init__(self, transform_key: bytes, model_id: str, dimension: int) -> None:
        self.model_id = model_id
        self.dimension = dimension
        self._matrix = rotation_matrix(transform_key, model_id, dimension)

    def __repr__(self) -> str:
        return f"Rotation(model_id={self.model_id!r}, dim={self.dimension})"

    def apply(self, template: Template) -> Template:
        """Return ``template`` rotated; its model and dimension must be this rotation's."""
        if template.model_id != self.model_id or template.dimension != self.dimension:
            raise ValueError("the template's model or dimension is not this rotation's")
        rotated = self._matrix @ template.vector.astype(np.float64)
        return Template.from_embedding(template.model_id, rotated)


def rotate(transform_key: bytes, *templates: Template) -> list[Template]:
    """Rotate ``templates`` (all of one model) with the matrix of ``transform_key``; the matrix is dropped after."""
    if not templates:
        return []
    first = templates[0]
    rotation = Rotation(transform_key, first.model_id, first.dimension)
    return [rotation.apply(t) for t in templates]


def rotation_matrix(transform_key: bytes, model_id: str, dimension: int) -> Matrix:
    """The Haar-random orthogonal ``dimension × dimension`` matrix of ``transform_key`` for ``model_id``."""
    if len(transform_key) != TRANSFORM_KEY_LENGTH:
        raise ValueError("transform key must be 32 bytes")
    if not 1 <= dimension <= MAX_DIMENSION:
        raise ValueError("dimension must be 1..4096")
    info = ROTATION_INFO + model_id.encode("ascii") + b"\x00" + struct.pack(">H", dimension)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(transform_key)
    gaussian = _gaussian(key, dimension * dimension).reshape(dimension, dimension)
    # One BLAS thread: the same rounding on every machine, and no waiting for busy cores (a 128 × 128 QR is ~1 ms).
    with _blas().limit(limits=1, user_api="blas"):
        q, r = np.linalg.qr(gaussian)
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    matrix: Matrix = q * signs
    return matrix


@functools.cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def _gaussian(key: bytes, count: int) -> npt.NDArray[np.float64]:
    """``count`` standard normal values from the AES-256-CTR stream of ``key`` (Box–Muller)."""
    pairs = (count + 1) // 2
    encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    stream = encryptor.update(bytes(16 * pairs)) + encryptor.finalize()
    words = np.frombuffer(stream, dtype="<u8")
    uniform = ((words >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    u1, u2 = uniform[0::2], uniform[1::2]
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = 2.0 * np.pi * u2
    values = np.empty(2 * pairs, dtype=np.float64)
    values[0::2] = radius * np.cos(angle)
    values[1::2] = radius * np.sin(angle)
    return values[:count]
