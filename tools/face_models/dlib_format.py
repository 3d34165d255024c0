"""Reading dlib's serialisation (``dlib/serialize.h``): the primitives its model files are made of.

Integers are a control byte (low 4 bits: how many little-endian bytes follow; bit 7: negative) and those
bytes.  A float is two such integers, a mantissa and a binary exponent (``mantissa * 2**exponent``; three
exponent values stand for +inf, -inf and NaN).  A string is its length and its bytes; a bool the ASCII
character ``'1'`` or ``'0'``; a vector its length and its items; a matrix ``-rows``, ``-cols`` and its items
row by row.  A DNN tensor is a version (2), four dimensions and little-endian float32 values.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]
_INF, _NINF, _NAN = 32000, 32001, 32002


class FormatError(ValueError):
    """The bytes are not what the dlib type read at this point serialises to."""


@contextlib.contextmanager
def reading(what: str) -> Iterator[None]:
    """Whatever goes wrong while reading ``what`` (a shape that does not fit, a number out of range)
    comes out as a :class:`FormatError`."""
    try:
        yield
    except FormatError:
        raise
    except (ValueError, OverflowError, IndexError, KeyError, TypeError) as exc:
        raise FormatError(f"not a dlib {what}: {type(exc).__name__}: {exc}") from exc


class Reader:
    """A cursor over the bytes of one dlib file."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError(f"file ends at byte {len(self.data)}, {n} more needed at {self.pos}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def read_int(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise FormatError(f"bad integer control byte 0x{control:02x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def read_float(self) -> float:
        mantissa, exponent = self.read_int(), self.read_int()
        if exponent == _INF:
            return math.inf
        if exponent == _NINF:
            return -math.inf
        if exponent == _NAN:
            return math.nan
        return math.ldexp(float(mantissa), exponent)

    def read_bool(self) -> bool:
        ch = self._take(1)
        if ch not in (b"0", b"1"):
            raise FormatError(f"bad bool {ch!r} at byte {self.pos - 1}")
        return ch == b"1"

    def read_string(self) -> str:
        return self._take(self.read_int()).decode("latin-1")

    def expect(self, *names: str) -> str:
        """Read a version string and check it is one of ``names``."""
        at = self.pos
        got = self.read_string()
        if got not in names:
            raise FormatError(f"expected {' or '.join(map(repr, names))} at byte {at}, found {got[:40]!r}")
        return got

    def version(self, *allowed: int) -> int:
        at = self.pos
        v = self.read_int()
        if v not in allowed:
            raise FormatError(f"unexpected version {v} at byte {at} (known: {allowed})")
        return v

    def float_matrix(self) -> Array:
        """A ``dlib::matrix<float>`` (a column vector in the shape predictor)."""
        rows, cols = abs(self.read_int()), abs(self.read_int())
        return np.array(self.floats(rows * cols), np.float32).reshape(rows, cols)

    def floats(self, n: int) -> list[float]:
        """``n`` floats in a row: :meth:`read_float` unrolled, for the shape predictor's million leaf values."""
        data, pos, out = self.data, self.pos, []
        try:
            for _ in range(n):
                vals = []
                for _ in range(2):
                    control = data[pos]
                    size = control & 0x0F
                    if size == 0 or size > 8 or control & 0x70:
                        raise FormatError(f"bad integer control byte 0x{control:02x} at byte {pos}")
                    v = int.from_bytes(data[pos + 1:pos + 1 + size], "little")
                    vals.append(-v if control & 0x80 else v)
                    pos += 1 + size
                mantissa, exponent = vals
                out.append(math.ldexp(float(mantissa), exponent) if exponent < _INF else
                           math.inf if exponent == _INF else -math.inf if exponent == _NINF else math.nan)
        except IndexError as exc:
            raise FormatError(f"file ends at byte {len(data)} inside a float") from exc
        if pos > len(data):
            raise FormatError(f"file ends at byte {len(data)} inside a float")
        self.pos = pos
        return out

    def tensor(self) -> Array:
        """A ``resizable_tensor``: (samples, k, rows, cols) float32."""
        self.version(2)
        at = self.pos
        shape = tuple(self.read_int() for _ in range(4))
        if min(shape) < 0:
            raise FormatError(f"tensor of shape {shape} at byte {at}")
        return np.frombuffer(self._take(4 * math.prod(shape)), "<f4").astype(np.float32).reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        """An ``alias_tensor``: its shape only."""
        self.version(1)
        n, k, r, c = (self.read_int() for _ in range(4))
        return n, k, r, c

    def at_end(self) -> bool:
        return self.pos == len(self.data)
