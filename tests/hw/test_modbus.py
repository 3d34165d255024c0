"""Modbus clients against a pymodbus server (TCP on 127.0.0.1, RTU over a pty null modem)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from hw_helpers import until
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_bridge.errors import CommandRejected, NotConfirmed
from firmware_bridge.modbus.client import ModbusLink
from firmware_bridge.modbus.poller import Poller
from firmware_bridge.modbus.registers import Point, Table, Value, spans
from firmware_bridge.pty import NullModem
from firmware_bridge.testing.modbus_peer import CONTROLLER_MAP, BarrierController, tcp_port


@pytest.fixture
async def controller() -> AsyncIterator[BarrierController]:
    async with BarrierController.tcp(travel_s=0.1) as ctl:
        yield ctl


@pytest.fixture
def modem() -> Iterator[NullModem]:
    modem = NullModem()
    yield modem
    modem.close()


def test_point_scales_and_signs_values() -> None:
    angle = Point(Table.INPUT_REGISTER, 0, scale=0.1)
    assert angle.decode(900) == pytest.approx(90.0)
    assert angle.encode(90.0) == 900
    offset = Point(Table.HOLDING_REGISTER, 1, scale=0.5, signed=True)
    assert offset.decode(0xFFFE) == pytest.approx(-1.0)
    assert offset.encode(-1.0) == 0xFFFE
    with pytest.raises(ValueError):
        Point(Table.HOLDING_REGISTER, 2).encode(70000)
    assert Point(Table.COIL, 3).decode(1) is True


def test_reads_are_grouped_by_adjacent_addresses_only() -> None:
    assert spans(CONTROLLER_MAP) == [
        (Table.COIL, 0, 1),
        (Table.DISCRETE_INPUT, 0, 4),
        (Table.HOLDING_REGISTER, 0, 1),
        (Table.INPUT_REGISTER, 0, 1),
    ]
    gap = {"a": Point(Table.HOLDING_REGISTER, 10), "b": Point(Table.HOLDING_REGISTER, 12)}
    assert spans(gap) == [(Table.HOLDING_REGISTER, 10, 1), (Table.HOLDING_REGISTER, 12, 1)]


async def test_tcp_drives_the_barrier_and_reads_its_sensors(controller: BarrierController) -> None:
    link = ModbusLink.tcp("127.0.0.1", controller.port)
    await link.connect()
    try:
        await controller.set("loop_entry", True)
        values = await link.read_map(CONTROLLER_MAP)
        assert values["loop_entry"] is True and values["closed_limit"] is True and values["open_limit"] is False
        await link.write(CONTROLLER_MAP["command_open"], True)
        await link.write(CONTROLLER_MAP["aspect"], 2)
        await until(lambda: controller.moves == 1)
        values = await link.read_map(CONTROLLER_MAP)
        assert values["open_limit"] is True and values["angle"] == pytest.approx(90.0) and values["aspect"] == 2
        assert await controller.get("aspect") == 2
    finally:
        link.close()


async def test_rtu_over_a_serial_line(modem: NullModem) -> None:
    async with BarrierController.rtu(modem.path_a, travel_s=0.05) as controller:
        link = ModbusLink.rtu(modem.path_b, 115200)
        await link.connect()
        try:
            await controller.set("loop_exit", True)
            assert (await link.read_map(CONTROLLER_MAP))["loop_exit"] is True
            await link.write(CONTROLLER_MAP["command_open"], True)
            await until(lambda: controller.moves == 1)
            assert await link.read(CONTROLLER_MAP["open_limit"]) is True
        finally:
            link.close()


async def test_an_exception_response_is_a_rejection(controller: BarrierController) -> None:
    link = ModbusLink.tcp("127.0.0.1", controller.port)
    await link.connect()
    try:
        with pytest.raises(CommandRejected) as err:
            await link.write(Point(Table.HOLDING_REGISTER, 500), 1)
        assert err.value.code == 2  # illegal data address
    finally:
        link.close()


async def test_a_write_the_controller_ignores_is_not_confirmed_and_not_repeated_forever() -> None:
    writes = []

    async def ignore_writes(fc: int, start: int, address: int, count: int, regs: list[int], values: object) -> None:
        if values is not None:
            writes.append(address)
            values[:] = [0]  # type: ignore[index]  # accept the request, keep the old value

    device = SimDevice(id=1, simdata=[SimData(0, count=4, values=0, datatype=DataType.REGISTERS)], action=ignore_writes)
    server = ModbusTcpServer([device], address=("127.0.0.1", 0))
    task = asyncio.create_task(server.serve_forever())
    await until(lambda: server.transport is not None)
    link = ModbusLink.tcp("127.0.0.1", tcp_port(server))
    await link.connect()
    try:
        with pytest.raises(NotConfirmed):
            await link.write(Point(Table.HOLDING_REGISTER, 1), 5)
        assert writes == [1] * link.write_attempts
    finally:
        link.close()
        task.cancel()
        await server.shutdown()  # type: ignore[no-untyped-call]


async def test_a_confirmed_write_is_sent_once(controller: BarrierController) -> None:
    link = ModbusLink.tcp("127.0.0.1", controller.port)
    await link.connect()
    try:
        await link.write(CONTROLLER_MAP["aspect"], 3)
        assert (link.requests, link.write_retries) == (2, 0)  # one write, one read-back
    finally:
        link.close()


async def test_poller_reports_link_loss_and_recovery() -> None:
    ctl = BarrierController.tcp(travel_s=0.05)
    await ctl.start()
    port = ctl.port
    changes: list[bool] = []
    seen: list[dict[str, Value]] = []
    poller = Poller(ModbusLink.tcp("127.0.0.1", port, timeout=0.3), CONTROLLER_MAP, interval=0.02, offline_after=3,
                    backoff_initial=0.05, backoff_max=0.2, on_values=seen.append,
                    on_link=lambda online, reason: changes.append(online))
    task = asyncio.create_task(poller.run())
    try:
        await until(lambda: changes == [True])
        await ctl.set("loop_entry", True)
        await until(lambda: bool(seen) and seen[-1]["loop_entry"] is True)
        await ctl.stop()
        await until(lambda: changes == [True, False])
        ctl = BarrierController.tcp(port, travel_s=0.05)
        await ctl.start()
        await until(lambda: changes == [True, False, True])
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await ctl.stop()


async def test_a_controller_that_never_answers_is_reported_offline() -> None:
    changes: list[tuple[bool, str]] = []
    poller = Poller(ModbusLink.tcp("127.0.0.1", 1, timeout=0.1), CONTROLLER_MAP, offline_after=2,  # port 1: closed
                    backoff_initial=0.01, on_link=lambda online, reason: changes.append((online, reason)))
    task = asyncio.create_task(poller.run())
    try:
        await until(lambda: bool(changes))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert changes[0][0] is False and changes[0][1]
