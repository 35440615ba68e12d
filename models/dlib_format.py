"""Reading dlib's serialisation format (``dlib/serialize.h``), one value after another.

dlib writes an integer as one byte (sign in bit 7, byte count in bits 0–3) and
then that many little-endian bytes of its magnitude; a float or double as two
such integers, a mantissa and a binary exponent; a string as its length and
its bytes; a bool as the character ``'1'`` or ``'0'``; and a DNN tensor
(``dlib/cuda/tensor.h``, version 2) as its four dimensions and then raw
little-endian float32 values.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


class DlibFormatError(ValueError):
    """The bytes are not the dlib object the reader expects."""


class DlibStream:
    """A cursor over the bytes of a dlib file."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.at = 0

    def _take(self, size: int) -> bytes:
        if self.at + size > len(self._data):
            raise DlibFormatError("the file ends early")
        chunk = self._data[self.at : self.at + size]
        self.at += size
        return chunk

    def next_int(self) -> int:
        head = self._take(1)[0]
        size = head & 0x0F
        value = int.from_bytes(self._take(size), "little")
        return -value if head & 0x80 else value

    def next_float(self) -> float:
        mantissa = self.next_int()
        return float(np.ldexp(float(mantissa), self.next_int()))

    def next_string(self) -> str:
        return self._take(self.next_int()).decode("ascii", errors="replace")

    def next_bool(self) -> bool:
        char = self._take(1)
        if char not in (b"0", b"1"):
            raise DlibFormatError(f"a bool that is {char!r}")
        return char == b"1"

    def next_tensor(self) -> npt.NDArray[np.float32]:
        """A ``resizable_tensor``: shape (samples, k, rows, columns), float32."""
        self.expect(2, "a tensor's version")
        shape = tuple(self.next_int() for _ in range(4))
        if min(shape) < 0:
            raise DlibFormatError(f"a tensor of shape {shape}")
        count = int(np.prod(shape))
        values = np.frombuffer(self._take(4 * count), dtype="<f4")
        return values.astype(np.float32).reshape(shape)

    def next_alias(self) -> tuple[int, int, int, int]:
        """An ``alias_tensor``: only its shape (its values live in the layer's parameter tensor)."""
        self.expect(1, "an alias tensor's version")
        samples, k, rows, columns = (self.next_int() for _ in range(4))
        return samples, k, rows, columns

    def expect(self, value: int, what: str) -> None:
        if (found := self.next_int()) != value:
            raise DlibFormatError(f"{what} is {found}, expected {value}")

    def expect_string(self, allowed: tuple[str, ...], what: str) -> str:
        if (found := self.next_string()) not in allowed:
            raise DlibFormatError(f"{what} is {found!r}, expected one of {', '.join(allowed)}")
        return found

    @property
    def remaining(self) -> int:
        return len(self._data) - self.at
