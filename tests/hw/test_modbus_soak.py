"""Modbus RTU on a line that corrupts 1 % of its bytes both ways: no wrong or repeated actuation.

A PASS crossing writes its number into the controller's "open ticket" register (confirmed by read-back);
the controller records every write it applies. The default run is bounded;
``GATECORE_SOAK_CROSSINGS=1000`` runs the full soak.
"""

from __future__ import annotations

import asyncio
import os
import random

from hw_helpers import check_actuations
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_bridge.errors import LinkError
from firmware_bridge.modbus.client import ModbusLink
from firmware_bridge.modbus.registers import Point, Table
from firmware_bridge.pty import NullModem

CROSSINGS = int(os.environ.get("GATECORE_SOAK_CROSSINGS", "40"))
TICKET = Point(Table.HOLDING_REGISTER, 1)


async def test_one_percent_corrupted_bytes_never_actuate_wrongly_over_rtu() -> None:
    applied: list[int] = []

    async def record(fc: int, start: int, address: int, count: int, regs: list[int], values: object) -> None:
        if fc == 6 and address == TICKET.address and isinstance(values, list):
            applied.extend(int(v) for v in values)

    modem = NullModem(corrupt=0.01, seed=11)
    device = SimDevice(id=1, simdata=[SimData(0, count=4, values=0, datatype=DataType.REGISTERS)], action=record)
    server = ModbusSerialServer([device], port=modem.path_a, baudrate=115200)
    serving = asyncio.create_task(server.serve_forever())
    link = ModbusLink.rtu(modem.path_b, 115200, timeout=0.1)
    rng = random.Random(3)
    decided: dict[int, bool] = {}
    confirmed = failed = 0
    try:
        await asyncio.sleep(0.2)
        for crossing in range(1, CROSSINGS + 1):
            decided[crossing] = rng.random() < 0.7
            if not decided[crossing]:
                continue
            try:
                if not link.connected:
                    await link.connect()
                await link.write(TICKET, crossing)
                confirmed += 1
            except LinkError:
                failed += 1  # counted; the lane would degrade
    finally:
        link.close()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await server.shutdown()  # type: ignore[no-untyped-call]
        modem.close()
    verdict = check_actuations(applied, decided, confirmed, failed)
    print(f"modbus soak: {verdict}; {link.requests} requests, {link.failures} failed, {link.write_retries} "
          f"re-writes; {modem.corrupted_bytes} bytes corrupted")
    assert modem.corrupted_bytes > 0 and (link.failures > 0 or failed == 0)
