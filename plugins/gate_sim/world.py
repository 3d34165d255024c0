"""The simulated world: per lane, its devices and who watches them change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from gatecore.api import error_text

log = structlog.get_logger("gate_sim")


@dataclass
class LaneWorld:
    lane_id: str
    devices: dict[str, Any] = field(default_factory=dict)
    watchers: list[Callable[[], None]] = field(default_factory=list)

    def changed(self) -> None:
        """A device the traffic can see changed (the barrier moved, the display shows something new).

        Watchers are called at once, from inside the device command: they only note the change, set
        timers and report sensor changes, which the lane takes as events whenever they come.
        """
        for watcher in self.watchers:
            try:
                watcher()
            except Exception as exc:  # noqa: BLE001 - the simulation must not take a lane down
                log.error("sim_watcher_failed", lane=self.lane_id, error=error_text(exc))


@dataclass
class World:
    seed: int
    lanes: dict[str, LaneWorld] = field(default_factory=dict)

    def lane(self, lane_id: str) -> LaneWorld:
        return self.lanes.setdefault(lane_id, LaneWorld(lane_id))
