"""The simulated world: per lane, what the devices show, and a notifier the traffic agents wait on."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LaneWorld:
    lane_id: str
    devices: dict[str, Any] = field(default_factory=dict)
    _wake: asyncio.Future[None] | None = None

    def changed(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def wait_change(self, timeout: float) -> None:
        self._wake = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(self._wake, timeout)
        except TimeoutError:
            pass


@dataclass
class World:
    seed: int
    lanes: dict[str, LaneWorld] = field(default_factory=dict)

    def lane(self, lane_id: str) -> LaneWorld:
        return self.lanes.setdefault(lane_id, LaneWorld(lane_id))
