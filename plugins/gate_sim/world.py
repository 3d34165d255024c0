"""The simulated world: per lane, what the devices show, and a notifier the traffic agents wait on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gatecore.api import Notifier


@dataclass
class LaneWorld:
    lane_id: str
    devices: dict[str, Any] = field(default_factory=dict)
    notifier: Notifier = field(default_factory=Notifier)

    def changed(self) -> None:
        self.notifier.notify()

    async def wait_change(self, timeout: float) -> None:
        await self.notifier.wait(timeout)


@dataclass
class World:
    seed: int
    lanes: dict[str, LaneWorld] = field(default_factory=dict)

    def lane(self, lane_id: str) -> LaneWorld:
        return self.lanes.setdefault(lane_id, LaneWorld(lane_id))
