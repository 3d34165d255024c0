"""Register maps: what a named point of a controller is, in Modbus terms."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

Value = bool | float


class Table(StrEnum):
    COIL = "coil"
    DISCRETE_INPUT = "discrete_input"
    HOLDING_REGISTER = "holding_register"
    INPUT_REGISTER = "input_register"

    @property
    def is_bit(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE_INPUT)

    @property
    def writable(self) -> bool:
        return self in (Table.COIL, Table.HOLDING_REGISTER)


@dataclass(frozen=True, slots=True)
class Point:
    """One coil, input or register. A register's engineering value is ``raw * scale``."""

    table: Table
    address: int
    scale: float = 1.0
    signed: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.address <= 0xFFFF:
            raise ValueError(f"Modbus address {self.address} is out of range")
        if self.scale == 0:
            raise ValueError("scale must not be 0")

    def decode(self, raw: int | bool) -> Value:
        if self.table.is_bit:
            return bool(raw)
        value = int(raw)
        if self.signed and value >= 0x8000:
            value -= 0x10000
        return value * self.scale

    def encode(self, value: Value) -> int | bool:
        if self.table.is_bit:
            return bool(value)
        raw = round(float(value) / self.scale)
        low, high = (-0x8000, 0x7FFF) if self.signed else (0, 0xFFFF)
        if not low <= raw <= high:
            raise ValueError(f"{value} does not fit a 16-bit register at scale {self.scale}")
        return raw & 0xFFFF


RegisterMap = dict[str, Point]


def spans(points: RegisterMap, max_bits: int = 2000, max_registers: int = 125) -> list[tuple[Table, int, int]]:
    """Group points into (table, first address, count) reads; only adjacent addresses are merged, so a read
    never touches an address the map does not name (a controller may answer those with an exception)."""
    out: list[tuple[Table, int, int]] = []
    for table in Table:
        limit = max_bits if table.is_bit else max_registers
        for address in sorted({p.address for p in points.values() if p.table == table}):
            if out and out[-1][0] == table and out[-1][1] + out[-1][2] == address and out[-1][2] < limit:
                out[-1] = (table, out[-1][1], out[-1][2] + 1)
            else:
                out.append((table, address, 1))
    return out
