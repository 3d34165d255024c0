"""Device models on a Modbus controller: barrier, lights and loop detectors, by register map."""

from __future__ import annotations

from collections.abc import Mapping

from firmware_bridge.devices.hubs import ModbusHub
from firmware_bridge.errors import LinkError
from firmware_bridge.modbus.registers import Point, RegisterMap, Value
from gatecore.api import Aspect, Barrier, BarrierPosition, Device, DeviceContext, DeviceError, Lights, Presence


class _OnController(Device):

    def __init__(self, hub: ModbusHub, points: RegisterMap) -> None:
        self.hub = hub
        self.points = points
        hub.subscribe(self.ctx.role, points, self.on_values, self._link)

    def _link(self, online: bool, reason: str) -> None:
        self.set_online(online, f"Modbus: {reason}" if reason else "")

    def on_values(self, values: dict[str, Value]) -> None:
        """The latest poll of this device's points."""

    async def start(self) -> None:
        await self.hub.acquire()

    async def stop(self) -> None:
        await self.hub.release()

    async def _write(self, point: Point, value: Value, what: str) -> None:
        try:
            async with self.hub.lock:
                await self.hub.link.write(point, value)
        except (LinkError, ValueError) as exc:
            raise DeviceError(f"{what}: {exc}") from exc


class ModbusBarrier(_OnController, Barrier):
    """``command`` (coil or register, 1 = open) is written and read back; ``open_limit`` / ``closed_limit``
    give the position."""

    def __init__(self, ctx: DeviceContext, hub: ModbusHub, command: Point, open_limit: Point, closed_limit: Point):
        Barrier.__init__(self, ctx)
        _OnController.__init__(self, hub, {"command": command, "open_limit": open_limit,
                                           "closed_limit": closed_limit})

    async def open(self) -> None:
        await self._write(self.points["command"], True, "barrier open")
        if self.position is not BarrierPosition.OPEN:
            self.report_position(BarrierPosition.MOVING)

    async def close(self) -> None:
        await self._write(self.points["command"], False, "barrier close")
        if self.position is not BarrierPosition.CLOSED:
            self.report_position(BarrierPosition.MOVING)

    def on_values(self, values: dict[str, Value]) -> None:
        if values["open_limit"] and not values["closed_limit"]:
            self.report_position(BarrierPosition.OPEN)
        elif values["closed_limit"] and not values["open_limit"]:
            self.report_position(BarrierPosition.CLOSED)
        elif not values["open_limit"] and not values["closed_limit"]:
            self.report_position(BarrierPosition.MOVING)
        else:
            self.report_position(BarrierPosition.UNKNOWN)  # both switches made: a wiring fault


class ModbusLights(_OnController, Lights):
    """Lane lights as one register holding an aspect code."""

    def __init__(self, ctx: DeviceContext, hub: ModbusHub, aspect: Point, codes: Mapping[Aspect, int]) -> None:
        Lights.__init__(self, ctx)
        _OnController.__init__(self, hub, {"aspect": aspect})
        self.codes = dict(codes)

    async def show(self, aspect: Aspect) -> None:
        await self._write(self.points["aspect"], self.codes[aspect], "lights")


class ModbusPresence(_OnController, Presence):
    """A loop detector output on a discrete input (or coil, or a non-zero register)."""

    def __init__(self, ctx: DeviceContext, hub: ModbusHub, occupied: Point, active_high: bool = True) -> None:
        Presence.__init__(self, ctx)
        _OnController.__init__(self, hub, {"occupied": occupied})
        self.active_high = active_high

    def on_values(self, values: dict[str, Value]) -> None:
        self.report_presence(bool(values["occupied"]) == self.active_high)
