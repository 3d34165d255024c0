"""What a lane is made of besides its state machine: the fault that degrades it, its counters, and the
read-only view of it that plugins get."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from gatecore.config import LaneConfig
from gatecore.devices import Barrier, Device
from gatecore.privacy import SafeText
from gatecore.types import Decision, LaneState, Outcome

if TYPE_CHECKING:
    from gatecore.lane import Lane


class LaneFault(Exception):
    """Raised inside a transaction when the lane must go degraded. ``message`` is the core's own text
    (ids, codes, :func:`gatecore.privacy.error_text`), never a plugin's: it goes into records and logs."""

    def __init__(self, kind: str, message: str, device: str | None = None, plugin: str | None = None) -> None:
        super().__init__(message)
        self.message = SafeText(message)
        self.kind, self.device, self.plugin = kind, device, plugin


@dataclass
class LaneStats:
    crossings: int = 0
    decisions: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    faults: int = 0
    #: the latest latencies (a bounded window, so a lane can run for months)
    decision_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    command_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))


class ReadOnlyLane:
    """A lane as plugins see it (:class:`gatecore.views.LaneView`): read-only."""

    __slots__ = ("_lane", "devices")

    def __init__(self, lane: Lane) -> None:
        self._lane = lane
        self.devices: Mapping[str, Device] = lane.info.devices  # read-only already (the site made it so)

    @property
    def id(self) -> str:
        return self._lane.cfg.id

    @property
    def config(self) -> LaneConfig:
        return self._lane.cfg

    @property
    def state(self) -> LaneState:
        return self._lane.state

    @property
    def barrier(self) -> Barrier:
        return self._lane.barrier

    @property
    def crossings(self) -> int:
        return self._lane.stats.crossings

    @property
    def decisions(self) -> Mapping[str, int]:
        return MappingProxyType(dict(self._lane.stats.decisions))

    @property
    def faults(self) -> int:
        return self._lane.stats.faults

    @property
    def referral(self) -> Decision | None:
        return self._lane.referral
