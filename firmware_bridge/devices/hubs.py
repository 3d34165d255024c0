"""Links shared by several devices: one OSDP bus (control panel) or one Modbus controller (poller).

Devices subscribe while they are being built and ``acquire()`` the hub when they start: the first
acquire starts the link, the last ``release()`` stops it. The hub owns its background task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from firmware_bridge.modbus.client import ModbusLink
from firmware_bridge.modbus.poller import Poller
from firmware_bridge.modbus.registers import RegisterMap, Value
from firmware_bridge.osdp.cp import ControlPanel, CpEvent, PdConfig


class OsdpHub:
    def __init__(self, url: str, pds: Sequence[PdConfig], **options: Any) -> None:
        self.cp = ControlPanel(url, pds, **options)
        self.cp.add_listener(self._route)
        self._subscribers: dict[int, list[Callable[[CpEvent], None]]] = {}
        self._users = 0

    def subscribe(self, address: int, listener: Callable[[CpEvent], None]) -> None:
        self.cp.is_online(address)  # raises LinkError for an address the bus does not have
        self._subscribers.setdefault(address, []).append(listener)

    def _route(self, event: CpEvent) -> None:
        for listener in self._subscribers.get(event.address, ()):
            listener(event)

    async def acquire(self) -> None:
        self._users += 1
        if self._users == 1:
            self.cp.start()

    async def release(self) -> None:
        self._users -= 1
        if self._users == 0:
            await self.cp.aclose()


class ModbusHub:
    """One controller: a single poll loop reads every point the devices asked for."""

    def __init__(self, link: ModbusLink, **options: Any) -> None:
        self.link = link
        self.poller = Poller(link, {}, on_values=self._route_values, on_link=self._route_link, **options)
        self._value_subs: list[tuple[dict[str, str], Callable[[dict[str, Value]], None]]] = []
        self._link_subs: list[Callable[[bool, str], None]] = []
        self._users = 0
        self._task: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()  # one request at a time on the controller: polls and writes take it

    def subscribe(self, prefix: str, points: RegisterMap, on_values: Callable[[dict[str, Value]], None],
                  on_link: Callable[[bool, str], None]) -> None:
        keys = {f"{prefix}/{len(self._value_subs)}/{name}": name for name in points}  # unique per device
        self.poller.points.update({key: points[name] for key, name in keys.items()})
        self._value_subs.append((keys, on_values))
        self._link_subs.append(on_link)

    def _route_values(self, values: dict[str, Value]) -> None:
        for keys, callback in self._value_subs:
            callback({name: values[key] for key, name in keys.items()})

    def _route_link(self, online: bool, reason: str) -> None:
        for callback in self._link_subs:
            callback(online, reason)

    async def acquire(self) -> None:
        self._users += 1
        if self._users == 1:
            self._task = asyncio.create_task(self._poll_loop(), name="modbus-poller")

    async def _poll_loop(self) -> None:
        while True:
            async with self.lock:
                delay = await self.poller.poll_once()
            await asyncio.sleep(delay)

    async def release(self) -> None:
        self._users -= 1
        if self._users == 0 and self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self.link.close()
