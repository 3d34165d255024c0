"""A barrier controller with lights and loop detectors, served by pymodbus (TCP or RTU): a real
Modbus peer for tests and the demo. The barrier travels for ``travel_s`` after its command coil changes.

Register map (:data:`CONTROLLER_MAP`)::

    coil 0              open command (1 = open, 0 = close)
    discrete input 0/1  open / closed limit switch
    discrete input 2/3  entry / exit loop occupied
    holding register 0  lights aspect (0 off, 1 red, 2 green, 3 amber)
    input register 0    barrier angle, 0.1 degree units
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self, cast

from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_bridge.modbus.registers import Point, RegisterMap, Table

CONTROLLER_MAP: RegisterMap = {
    "command_open": Point(Table.COIL, 0),
    "open_limit": Point(Table.DISCRETE_INPUT, 0),
    "closed_limit": Point(Table.DISCRETE_INPUT, 1),
    "loop_entry": Point(Table.DISCRETE_INPUT, 2),
    "loop_exit": Point(Table.DISCRETE_INPUT, 3),
    "aspect": Point(Table.HOLDING_REGISTER, 0),
    "angle": Point(Table.INPUT_REGISTER, 0, scale=0.1),
}

_FC_READ = {Table.COIL: 1, Table.DISCRETE_INPUT: 2, Table.HOLDING_REGISTER: 3, Table.INPUT_REGISTER: 4}
_FC_WRITE = {Table.COIL: 5, Table.DISCRETE_INPUT: 2, Table.HOLDING_REGISTER: 6, Table.INPUT_REGISTER: 4}


def tcp_port(server: ModbusTcpServer | ModbusSerialServer) -> int:
    """The port a TCP server listens on (it was started on port 0, say)."""
    assert server.transport is not None
    return int(cast(asyncio.Server, server.transport).sockets[0].getsockname()[1])


def _device(device_id: int) -> SimDevice:
    bits = [SimData(0, count=8, values=False, datatype=DataType.BITS)]
    regs = [SimData(0, count=8, values=0, datatype=DataType.REGISTERS)]
    return SimDevice(id=device_id, simdata=(list(bits), list(bits), list(regs), list(regs)))


class BarrierController:
    """``async with BarrierController.tcp() as ctl:`` serves on 127.0.0.1:``ctl.port``."""

    def __init__(self, server: ModbusTcpServer | ModbusSerialServer, device_id: int, travel_s: float) -> None:
        self.server = server
        self.device_id = device_id
        self.travel_s = travel_s
        self.moves = 0  # completed barrier movements
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def tcp(cls, port: int = 0, *, device_id: int = 1, travel_s: float = 0.2) -> BarrierController:
        return cls(ModbusTcpServer([_device(device_id)], address=("127.0.0.1", port)), device_id, travel_s)

    @classmethod
    def rtu(cls, path: str, baudrate: int = 115200, *, device_id: int = 1, travel_s: float = 0.2) -> BarrierController:
        server = ModbusSerialServer([_device(device_id)], port=path, baudrate=baudrate)
        return cls(server, device_id, travel_s)

    @property
    def port(self) -> int:
        return tcp_port(self.server)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self.server.serve_forever()))
        await self.set("closed_limit", True)
        self._tasks.append(asyncio.create_task(self._mechanics()))
        for _ in range(100):  # serve_forever binds in the background
            if self.server.transport is not None:
                return
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.server.shutdown()  # type: ignore[no-untyped-call]

    async def get(self, name: str) -> bool | int:
        point = CONTROLLER_MAP[name]
        (value,) = await self.server.async_getValues(self.device_id, _FC_READ[point.table], point.address, 1)
        return value

    async def set(self, name: str, value: bool | int) -> None:
        """Set a point from the field side (a loop detector, a limit switch)."""
        point = CONTROLLER_MAP[name]
        values: list[int] | list[bool] = [bool(value)] if point.table.is_bit else [int(value)]
        await self.server.async_setValues(self.device_id, _FC_WRITE[point.table], point.address, values)

    async def _mechanics(self) -> None:
        position = False  # closed
        while True:
            await asyncio.sleep(0.01)
            wanted = bool(await self.get("command_open"))
            if wanted == position:
                continue
            await self.set("closed_limit", False)
            await self.set("open_limit", False)
            await asyncio.sleep(self.travel_s)
            position = wanted
            self.moves += 1
            await self.set("angle", 900 if position else 0)
            await self.set("open_limit" if position else "closed_limit", True)
