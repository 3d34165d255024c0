"""Poll a register map at a fixed rate; report values and link health; reconnect with backoff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from firmware_bridge.errors import LinkError
from firmware_bridge.modbus.client import ModbusLink
from firmware_bridge.modbus.registers import RegisterMap, Value

log = logging.getLogger(__name__)


class Poller:
    """``run()`` until cancelled. ``offline_after`` consecutive failed polls report the link down."""

    def __init__(
        self,
        link: ModbusLink,
        points: RegisterMap,
        *,
        interval: float = 0.1,
        offline_after: int = 3,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
        on_values: Callable[[dict[str, Value]], None] = lambda values: None,
        on_link: Callable[[bool, str], None] = lambda online, reason: None,
    ) -> None:
        self.link = link
        self.points = points
        self.interval = interval
        self.offline_after = offline_after
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.on_values = on_values
        self.on_link = on_link
        self.online = False
        self.announced = False  # on_link was called at least once
        self.missed = 0
        self.polls = 0
        self._backoff = backoff_initial

    async def run(self) -> None:
        try:
            while True:
                delay = await self.poll_once()
                await asyncio.sleep(delay)
        finally:
            self.link.close()

    async def poll_once(self) -> float:
        """One poll (connecting first if needed); returns how long to wait before the next."""
        try:
            if not self.link.connected:
                await self.link.connect()
            values = await self.link.read_map(self.points)
        except LinkError as exc:
            self._failed(str(exc))
            if self.online:
                return self.interval
            delay, self._backoff = self._backoff, min(self.backoff_max, self._backoff * 2)
            return delay
        self.polls += 1
        self.missed = 0
        self._backoff = self.backoff_initial
        if not self.online:
            self.online = self.announced = True
            self.on_link(True, "")
        self.on_values(values)
        return self.interval

    def _failed(self, reason: str) -> None:
        self.missed += 1
        if (self.online or not self.announced) and self.missed >= self.offline_after:  # lost, or never seen
            self.online, self.announced = False, True
            log.warning("modbus: link down after %d missed polls: %s", self.missed, reason)
            self.link.close()
            self.on_link(False, reason)
