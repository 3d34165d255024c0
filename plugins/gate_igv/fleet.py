"""The vehicles one fleet control follows: what each last said (``state``, ``connection``, ``factsheet``),
whose it is (ours, or handed over to the partner side), whether it may be dispatched, and where an order
for it starts. Vehicles of the profile's fleet are ours from the start; others are followed, and become
ours only when the partner hands them over (:mod:`gate_igv.handover`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from .client import Incoming, VehicleId
from .config import VehicleConfig
from .versions import VERSIONS, Version
from .wire import VehicleState, connection_state, parse_state
from .yard import Yard

if TYPE_CHECKING:
    from .trips import Trip

log = structlog.get_logger("gate_igv")
ORDER_MODES = ("AUTOMATIC", "SEMIAUTOMATIC")


class Signal:
    """"Something changed": :meth:`wait` returns at once if it did since the last wait, else at the next
    :meth:`notify` or after ``timeout`` (a change while nobody waits is not lost)."""

    __slots__ = ("_flag", "_wake")

    def __init__(self) -> None:
        self._flag = False
        self._wake: asyncio.Future[None] | None = None

    def notify(self) -> None:
        self._flag = True
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def wait(self, timeout: float) -> None:
        # a bare timer, not wait_for: on Python 3.11 wait_for can swallow a cancellation that comes as the
        # future completes, and a busy fleet notifies hundreds of times a second
        if not self._flag:
            loop = asyncio.get_running_loop()
            wake = self._wake = loop.create_future()
            timer = loop.call_later(timeout, _settle, wake)
            try:
                await wake
            finally:
                timer.cancel()
        self._flag = False


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(eq=False)
class Vehicle:
    id: VehicleId
    type: str = "default"
    version: Version | None = None  # from the profile, else learned from its first valid message
    ours: bool = False
    connection: str = "UNKNOWN"
    state: VehicleState | None = None
    factsheet: Mapping[str, Any] | None = None
    trip: Trip | None = None  # the trip it is reserved for
    blocked: str | None = None  # why it may not be dispatched (a code): lost, unresponsive
    handed_in: Mapping[str, Any] | None = None  # the partner's hand-over, until it is taken over
    changed: Signal = field(default_factory=Signal)
    seen: float = 0.0

    @property
    def online(self) -> bool:
        return self.connection == "ONLINE"

    def why_not(self, min_charge: float) -> str | None:
        """Why this vehicle may not take a trip now (a code), or ``None`` when it may."""
        s = self.state
        checks = (
            (not self.ours, "not_ours"), (self.trip is not None, "busy"), (self.blocked is not None, "blocked"),
            (not self.online, "offline"), (s is None, "no_state"),
        )
        for failed, why in checks:
            if failed:
                return why
        assert s is not None
        for failed, why in ((s.mode not in ORDER_MODES, "not_automatic"), (not s.idle or s.driving, "not_idle"),
                            (s.estop, "estop"), (any(e.level != "WARNING" for e in s.errors), "errors"),
                            (s.charge < min_charge, "low_charge")):
            if failed:
                return why
        return None


class Vehicles:
    """Every vehicle seen, by id; :meth:`handle` takes the client's valid messages."""

    def __init__(self, yard: Yard, fleet: Iterable[VehicleConfig], join_m: float) -> None:
        self.yard, self.join_m = yard, join_m
        self.all: dict[VehicleId, Vehicle] = {}
        for v in fleet:
            vid = VehicleId(v.manufacturer, v.serial)
            self.all[vid] = Vehicle(vid, v.type, VERSIONS[v.version] if v.version else None, ours=True)
        self.changed = Signal()  # something changed that may free a vehicle or a trip
        self.states = 0

    def get(self, vid: VehicleId) -> Vehicle:
        vehicle = self.all.get(vid)
        if vehicle is None:
            vehicle = self.all[vid] = Vehicle(vid)
            log.info("igv_vehicle_seen", vehicle=str(vid), why="not_in_fleet")  # followed, not dispatched
        return vehicle

    def expected(self, vid: VehicleId) -> Version | None:
        vehicle = self.all.get(vid)
        return vehicle.version if vehicle is not None else None

    def handle(self, incoming: Incoming) -> None:
        vehicle = self.get(incoming.vehicle)
        if vehicle.version is None:
            vehicle.version = incoming.version
        vehicle.seen = time.monotonic()
        if incoming.topic == "state":
            vehicle.state = parse_state(incoming.version, incoming.body)
            self.states += 1
        elif incoming.topic == "connection":
            was, vehicle.connection = vehicle.connection, connection_state(incoming.version, incoming.body)
            if was != vehicle.connection:
                log.info("igv_connection", vehicle=str(vehicle.id), what=vehicle.connection.lower())
        elif incoming.topic == "factsheet":
            vehicle.factsheet = incoming.body
        vehicle.changed.notify()
        self.changed.notify()

    def start_of(self, vehicle: Vehicle) -> tuple[str, tuple[float, float, str] | None] | None:
        """Where an order for ``vehicle`` starts: the node it is at (within that node's deviation), or the
        nearest node within ``join_m`` with its position off the graph; ``None`` when neither."""
        s = vehicle.state
        if s is None:
            return None
        if s.position is not None:
            x, y, map_id = s.position
            node = self.yard.node_at(x, y, map_id)
            if node is not None:
                return node.id, None
            near = self.yard.nearest(x, y, map_id)
            if near is not None and near[1] <= self.join_m:
                return near[0].id, s.position
            return None
        return (s.last_node_id, None) if s.last_node_id in self.yard.nodes else None

    def choose(self, pick_node: str, vehicle_type: str | None, min_charge: float,
               tried: Collection[VehicleId] = ()) -> Vehicle | None:
        """The nearest vehicle by path that may take a trip to ``pick_node`` (and is not one of ``tried``)."""
        best: tuple[float, VehicleId] | None = None
        for vehicle in self.all.values():
            if vehicle.why_not(min_charge) is not None or (vehicle_type is not None and vehicle.type != vehicle_type) \
                    or vehicle.id in tried:
                continue
            start = self.start_of(vehicle)
            if start is None:
                continue
            node, here = start
            dist = self.yard.distance(node, pick_node, vehicle.type)
            if here is not None:
                n = self.yard.nodes[node]
                dist += ((n.x - here[0]) ** 2 + (n.y - here[1]) ** 2) ** 0.5
            if dist < float("inf") and (best is None or (dist, vehicle.id) < best):
                best = (dist, vehicle.id)
        return self.all[best[1]] if best is not None else None
