"""The simulated world: per lane, its devices, who watches them change, and who arrives.

A world index (``world.json``, written by ``python -m tools.demo``) names, for each lane, its line of
arrivals: what each carries (a pass, a face; their frames as files beside the index) and what the lane
should decide about them (``expect``, ``why``): the truth the run's decisions are judged against.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from gatecore.api import error_text

log = structlog.get_logger("gate_sim")
SCHEMA = "gate_sim.world/1"


@dataclass(frozen=True)
class Arrival:
    """One traveller of the world: an opaque id, what they carry, the frames of it and the truth."""

    id: str
    expect: tuple[str, ...]
    why: str
    pass_text: str | None = None
    frames: Mapping[str, tuple[Path, ...]] = field(default_factory=dict)  # by what they show; a camera cycles
    note: str = ""  # what to know when the lane disagrees (a plate group the recogniser reads badly, say)


class WorldError(ValueError):
    pass


def load_world(path: Path) -> dict[str, list[Arrival]]:
    """The lines of arrivals of a world index, by lane; :class:`WorldError` says what is wrong."""
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise WorldError(f"{path}: cannot read the world index: {error_text(exc)} (build it: python -m tools.demo)"
                         ) from exc
    except ValueError as exc:
        raise WorldError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("lanes"), dict):
        raise WorldError(f"{path}: not a {SCHEMA} index")
    try:
        return {lane: [_arrival(path.parent, a) for a in line] for lane, line in doc["lanes"].items()}
    except (KeyError, TypeError) as exc:
        raise WorldError(f"{path}: an arrival lacks {exc}") from exc


def _arrival(root: Path, a: dict[str, Any]) -> Arrival:
    frames = {kind: tuple(root / n for n in ([names] if isinstance(names, str) else names))
              for kind, names in a.get("frames", {}).items()}
    return Arrival(str(a["id"]), tuple(a["expect"]), str(a["why"]), a.get("pass_text"), frames, str(a.get("note", "")))


@dataclass
class LaneWorld:
    lane_id: str
    devices: dict[str, Any] = field(default_factory=dict)
    watchers: list[Callable[[], None]] = field(default_factory=list)
    line: list[Arrival] = field(default_factory=list)
    current: Arrival | None = None  # who is at the lane now
    faults: dict[str, tuple[float, float | None]] = field(default_factory=dict)  # role -> (on, healed) loop time

    def fault(self, role: str, on: bool, now: float) -> None:
        """The fault plan took ``role``'s device off (``on``) or healed it, at loop time ``now``."""
        since = self.faults.get(role, (now, None))[0]
        self.faults[role] = (now, None) if on else (since, now)

    def faulted(self, role: str, now: float, recovery_s: float) -> bool:
        """Whether the plan had ``role``'s device faulty at ``now`` or healed it less than ``recovery_s`` before."""
        on, healed = self.faults.get(role, (None, None))
        return on is not None and on <= now and (healed is None or now - healed < recovery_s)

    def arrive(self, number: int) -> Arrival | None:
        """The ``number``-th arrival (from 1) steps up: the next of the line, which starts again when through."""
        self.current = self.line[(number - 1) % len(self.line)] if self.line else None
        return self.current

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
    lines: dict[str, list[Arrival]] = field(default_factory=dict)

    def lane(self, lane_id: str) -> LaneWorld:
        if lane_id not in self.lanes:
            self.lanes[lane_id] = LaneWorld(lane_id, line=self.lines.get(lane_id, []))
        return self.lanes[lane_id]
