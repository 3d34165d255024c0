"""A Modbus client for one controller (TCP or RTU) on pymodbus, with writes confirmed by read-back.

pymodbus' own retries and reconnection are switched off: a write is retried here, and only while the
read-back does not show the value, so a write known to have taken effect is never sent again.
Reconnection is the caller's loop (see :class:`firmware_bridge.modbus.poller.Poller`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from firmware_bridge.errors import CommandRejected, LinkError, LinkTimeout, NotConfirmed
from firmware_bridge.modbus.registers import Point, RegisterMap, Table, Value, spans


class _Client(Protocol):
    @property
    def connected(self) -> bool: ...

    async def connect(self) -> bool: ...
    def close(self) -> None: ...
    def read_coils(self, address: int, *, count: int = 1, device_id: int = 1) -> Awaitable[Any]: ...
    def read_discrete_inputs(self, address: int, *, count: int = 1, device_id: int = 1) -> Awaitable[Any]: ...
    def read_holding_registers(self, address: int, *, count: int = 1, device_id: int = 1) -> Awaitable[Any]: ...
    def read_input_registers(self, address: int, *, count: int = 1, device_id: int = 1) -> Awaitable[Any]: ...
    def write_coil(self, address: int, value: bool, *, device_id: int = 1) -> Awaitable[Any]: ...
    def write_register(self, address: int, value: int, *, device_id: int = 1) -> Awaitable[Any]: ...


class ModbusLink:
    def __init__(self, client: _Client, *, device_id: int = 1, timeout: float = 1.0, write_attempts: int = 3) -> None:
        self._client = client
        self.device_id = device_id
        self.timeout = timeout
        self.write_attempts = write_attempts
        self.requests = 0
        self.failures = 0
        self.write_retries = 0

    @classmethod
    def tcp(cls, host: str, port: int = 502, *, device_id: int = 1, timeout: float = 1.0) -> ModbusLink:
        client = AsyncModbusTcpClient(host, port=port, timeout=timeout, retries=0, reconnect_delay=0)
        return cls(client, device_id=device_id, timeout=timeout)

    @classmethod
    def rtu(cls, port: str, baudrate: int = 19200, *, device_id: int = 1, timeout: float = 1.0) -> ModbusLink:
        client = AsyncModbusSerialClient(port, baudrate=baudrate, timeout=timeout, retries=0, reconnect_delay=0)
        return cls(client, device_id=device_id, timeout=timeout)

    @property
    def connected(self) -> bool:
        return bool(self._client.connected)

    async def connect(self) -> None:
        try:
            async with asyncio.timeout(self.timeout + 1):
                ok = await self._client.connect()
        except (ModbusException, OSError, TimeoutError) as exc:
            raise LinkError(f"cannot connect: {exc}") from exc
        if not ok:
            raise LinkError("cannot connect")

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ reads

    async def read(self, point: Point) -> Value:
        (raw,) = await self._read_raw(point.table, point.address, 1)
        return point.decode(raw)

    async def read_map(self, points: RegisterMap) -> dict[str, Value]:
        """Read every point, in as few requests as adjacent addresses allow."""
        raw: dict[tuple[Table, int], int | bool] = {}
        for table, start, count in spans(points):
            for offset, value in enumerate(await self._read_raw(table, start, count)):
                raw[(table, start + offset)] = value
        return {name: p.decode(raw[(p.table, p.address)]) for name, p in points.items()}

    async def _read_raw(self, table: Table, address: int, count: int) -> Sequence[int | bool]:
        fn = {
            Table.COIL: self._client.read_coils,
            Table.DISCRETE_INPUT: self._client.read_discrete_inputs,
            Table.HOLDING_REGISTER: self._client.read_holding_registers,
            Table.INPUT_REGISTER: self._client.read_input_registers,
        }[table]
        response = await self._call(lambda: fn(address, count=count, device_id=self.device_id))
        values: Sequence[int | bool] = response.bits if table.is_bit else response.registers
        if len(values) < count:
            raise LinkError(f"short reply: {len(values)} of {count} values")
        return values[:count]

    # ------------------------------------------------------------------ writes

    async def write(self, point: Point, value: Value) -> None:
        """Write and confirm by read-back. The write is sent again only after a read-back showed the value
        absent; when the read-back itself fails, the next attempt reads again instead of writing."""
        if not point.table.writable:
            raise ValueError(f"a {point.table} cannot be written")
        raw = point.encode(value)
        last: LinkError = LinkError("not attempted")
        send = True
        for attempt in range(self.write_attempts):
            if send:
                if attempt:
                    self.write_retries += 1
                try:
                    await self._write_raw(point, raw)
                except CommandRejected:
                    raise
                except LinkError as exc:  # it may or may not have been applied: look before sending again
                    last = exc
            try:
                (back,) = await self._read_raw(point.table, point.address, 1)
            except LinkError as exc:
                last, send = exc, False
                continue
            if back == raw:
                return
            last = NotConfirmed(f"read-back {back!r} after writing {raw!r} at {point.table} {point.address}")
            send = True
        raise last

    async def _write_raw(self, point: Point, raw: int | bool) -> None:
        if point.table == Table.COIL:
            await self._call(lambda: self._client.write_coil(point.address, bool(raw), device_id=self.device_id))
        else:
            await self._call(lambda: self._client.write_register(point.address, int(raw), device_id=self.device_id))

    async def _call(self, request: Callable[[], Awaitable[Any]]) -> Any:
        """Run one request; pymodbus raises some errors before it returns an awaitable, so call it here."""
        self.requests += 1
        try:
            async with asyncio.timeout(self.timeout + 0.5):
                response = await request()
        except TimeoutError as exc:
            self.failures += 1
            raise LinkTimeout("no reply") from exc
        except (ModbusException, OSError) as exc:
            self.failures += 1
            raise LinkError(str(exc)) from exc
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            raise CommandRejected(f"exception response {code}", code)
        return response
