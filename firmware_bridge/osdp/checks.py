"""OSDP check values, and the same values for any window of a stream at a cost that does not grow with its length.

OSDP's CRC-16 is CRC-16/AUG-CCITT (polynomial 0x1021, initial value 0x1D0F, not reflected): binascii's
``crc_hqx`` with that initial value. The 8-bit checksum is the two's complement of the byte sum.

:class:`RunningChecks` keeps, for every prefix of the bytes added, the CRC register (started at 0) and the
byte sum. A window's sum is a difference of two sums; its CRC follows because the CRC register is linear over
GF(2): ``crc(init, w[i:j]) = R[j] ^ Z(init ^ R[i], j - i)``, where ``R[k]`` is the register after the first
``k`` bytes and ``Z(v, m)`` the register after ``m`` zero bytes from ``v``, found with one table pair per power
of two in ``m``. A frame parser can so check every candidate frame, however many overlap, in O(1) each.
"""

from __future__ import annotations

import binascii
from array import array

CRC_INIT = 0x1D0F


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16 as OSDP uses it (CRC-16/AUG-CCITT)."""
    return binascii.crc_hqx(data, CRC_INIT)


def checksum(data: bytes | bytearray | memoryview) -> int:
    """The 8-bit check value: the two's complement of the sum of the bytes."""
    return (-sum(data)) & 0xFF


_STEP = tuple(binascii.crc_hqx(bytes((byte,)), 0) for byte in range(256))  # register 0, one byte in


def _zero_tables() -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    """For k = 0..15: the register after 2**k zero bytes, from each low byte and each high byte."""
    low = tuple(binascii.crc_hqx(b"\0", v) for v in range(256))
    high = tuple(binascii.crc_hqx(b"\0", v << 8) for v in range(256))
    tables = [(low, high)]
    for _ in range(15):  # 2**(k+1) zero bytes = 2**k zero bytes twice
        def twice(v: int, low: tuple[int, ...] = low, high: tuple[int, ...] = high) -> int:
            v = low[v & 0xFF] ^ high[v >> 8]
            return low[v & 0xFF] ^ high[v >> 8]

        low, high = tuple(twice(v) for v in range(256)), tuple(twice(v << 8) for v in range(256))
        tables.append((low, high))
    return tuple(tables)


_ZERO_TABLES = _zero_tables()


def after_zeros(register: int, count: int) -> int:
    """The CRC register after ``count`` (< 65536) zero bytes, starting from ``register``."""
    for low, high in _ZERO_TABLES:
        if count & 1:
            register = low[register & 0xFF] ^ high[register >> 8]
        count >>= 1
        if not count:
            break
    return register


class RunningChecks:
    """CRC register and byte sum after every prefix of the bytes added (positions count from the last drop)."""

    def __init__(self) -> None:
        self._crcs = array("H", [0])
        self._sums = array("q", [0])

    def add(self, data: bytes | bytearray) -> None:
        crcs, sums, step = self._crcs, self._sums, _STEP
        register, total = crcs[-1], sums[-1]
        for byte in data:
            register = ((register << 8) & 0xFFFF) ^ step[(register >> 8) ^ byte]
            total += byte
            crcs.append(register)
            sums.append(total)

    def crc16(self, start: int, end: int) -> int:
        """OSDP's CRC-16 of the bytes ``start:end``."""
        return self._crcs[end] ^ after_zeros(CRC_INIT ^ self._crcs[start], end - start)

    def sums_to_zero(self, start: int, end: int) -> bool:
        """Whether the bytes ``start:end`` add up to 0 mod 256 (a checksum frame, check byte included)."""
        return (self._sums[end] - self._sums[start]) & 0xFF == 0

    def drop(self, count: int) -> None:
        """Forget the first ``count`` bytes: positions shift down by ``count``."""
        del self._crcs[:count]
        del self._sums[:count]
