"""A simulated vehicle: the vehicle side of VDA 5050 (2.0, 2.1 or 3.0), for the demo, the command line,
the benchmark and the tests.

It takes orders and order updates as section 6.1/6.6 of the standard says (a new order only when idle and
when its first node is within reach, an update only when it stitches onto the base, duplicates ignored,
rejections reported as the predefined errors until a new order is accepted), drives along the released
nodes at ``speed`` m/s, runs each node's actions one after the other (``action_s`` each; ``pick`` loads,
``drop`` unloads), executes the instant actions (``cancelOrder`` stops it where it is and fails what was
pending, ``startPause``/``stopPause``, ``stateRequest``, ``factsheetRequest``, charging) and publishes
``state`` (on every change and every ``state_s``), ``visualization``, the retained ``connection`` and
``factsheet``, and a last will. Faults on request: :meth:`fail` (an error of any level; CRITICAL and FATAL
stop it), :meth:`estop`, ``deaf`` (orders never taken nor reflected), ``unreflected`` (instant action types
it never reports), :meth:`disconnect` (the network drops; the broker publishes the last will).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import structlog

from .bus import BrokerSettings, Bus, BusDown, LocalBroker, LocalBus, MqttBus
from .client import Incoming, Vda5050Client, VehicleId
from .relay import Relay
from .schemas import Schemas
from .vehicle_wire import (
    ParsedOrder,
    Snapshot,
    connection_body,
    factsheet_body,
    parse_instant,
    parse_order,
    state_body,
)
from .vehicle_wire import visualization_body as vis_body
from .versions import Version
from .wire import Action, Edge, Node
from .yard import YardNode

log = structlog.get_logger("gate_igv")
DONE = ("FINISHED", "FAILED")


@dataclass
class _Running:
    action: Action
    status: str = "WAITING"
    ends: float = 0.0


@dataclass
class SimSettings:
    speed: float = 2.0  # m/s
    action_s: float = 0.3
    state_s: float = 1.0
    visualization_s: float = 1.0
    tick_s: float = 0.05
    cancel_s: float = 0.1  # to stop after cancelOrder
    charge: float = 90.0
    drain_per_km: float = 0.0


@dataclass
class VehicleSim:
    bus: Bus
    schemas: Schemas
    interface: str
    vehicle: VehicleId
    version: Version
    x: float
    y: float
    map_id: str
    last_node_id: str = ""
    settings: SimSettings = field(default_factory=SimSettings)
    relay: Relay | None = None
    deaf: bool = False
    unreflected: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.client = Vda5050Client(self.bus, self.schemas, self.interface, "vehicle", self._on_message,
                                    expected=lambda _: self.version)
        self.bus.will = lambda: self.client.will(self.vehicle, self.version, connection_body(self.version, "BROKEN"))
        self.bus.on_connect = self._online
        self.order_id, self.update_id, self.last_node_seq = "", 0, 0
        self.theta = 0.0
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.actions: dict[str, _Running] = {}  # order actions by id, in order
        self.instant: dict[str, _Running] = {}
        self.queue: list[str] = []  # order actions of the node reached, still to run
        self.cancelled = False
        self.cancelling: str | None = None  # the cancelOrder action under way
        self.cancel_at = 0.0
        self.paused = self.charging = self.estopped = False
        self.errors: list[tuple[str, str, Mapping[str, str]]] = []
        self.loads: list[str] = []
        self.charge = self.settings.charge
        self.orders = 0  # orders and updates accepted
        self.zone_sets: dict[str, list[str]] = {}  # 3.0: zoneSetId -> [mapId, zoneSetStatus]
        self.zone_requests: dict[str, list[str]] = {}  # 3.0: requestId -> [zoneId, zoneSetId, requestStatus]
        self.leases: dict[str, str] = {}  # requestId -> leaseExpiry of its grant
        self.answers: dict[str, str] = {}  # requestId -> the fleet control's last grantType
        self._dirty = True
        self._factsheet_due = False
        self._last_state = self._last_vis = 0.0

    # -- what the tests and the demo do to it ------------------------------------------------------
    def fail(self, error_type: str, level: str = "FATAL", **references: str) -> None:
        self.errors.append((error_type, level, references))
        self._dirty = True

    def clear_errors(self) -> None:
        self.errors.clear()
        self._dirty = True

    def estop(self, on: bool = True) -> None:
        self.estopped = on
        self._dirty = True

    def disconnect(self, away_s: float) -> None:
        """Lose the network for ``away_s`` (the broker publishes the last will); the order goes on."""
        if isinstance(self.bus, LocalBus):
            self.bus.drop(away_s)
        elif self.relay is not None:
            self.relay.cut(away_s)

    def request_zone(self, zone_id: str, zone_set_id: str) -> str:
        """3.0: ask to enter a zone (a ``zoneRequest`` of type ACCESS); returns its request id."""
        request_id = f"{self.vehicle.serial}-{zone_id}-{len(self.zone_requests)}"
        self.zone_requests[request_id] = [zone_id, zone_set_id, "REQUESTED"]
        self._dirty = True
        return request_id

    def leave_zone(self, request_id: str) -> None:
        self.zone_requests.pop(request_id, None)
        self._dirty = True

    @property
    def idle(self) -> bool:
        return not self.nodes and not self.edges and all(r.status in DONE for r in self.actions.values())

    @property
    def stopped(self) -> bool:
        return self.paused or self.estopped or any(level in ("CRITICAL", "FATAL") for _, level, _ in self.errors)

    # -- running ---------------------------------------------------------------------------------
    async def run(self) -> None:
        await self.bus.subscribe(*self.client.vehicle_filters(self.vehicle, self.version))
        if self.relay is not None:
            await self.relay.start()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.bus.run(), name=f"sim/{self.vehicle}/bus")
                tg.create_task(self._ticks(), name=f"sim/{self.vehicle}/ticks")
        finally:
            if self.relay is not None:
                await self.relay.close()

    async def stop(self) -> None:
        """Say OFFLINE (retained) as a vehicle shutting down in an orderly way does."""
        await self._send("connection", connection_body(self.version, "OFFLINE"))

    async def _online(self, bus: Bus) -> None:
        await self._send("connection", connection_body(self.version, "ONLINE"))
        await self._send("factsheet", factsheet_body(self.version, self.settings.speed))
        self._dirty = True

    async def _ticks(self) -> None:
        s = self.settings
        last = time.monotonic()
        while True:
            await asyncio.sleep(s.tick_s)
            now = time.monotonic()
            self.step(now, now - last)
            last = now
            if self._factsheet_due:
                self._factsheet_due = False
                await self._send("factsheet", factsheet_body(self.version, s.speed))
            if self._dirty or now - self._last_state >= s.state_s:
                await self.publish_state(now)
            if s.visualization_s and now - self._last_vis >= s.visualization_s:
                self._last_vis = now
                await self._send("visualization", vis_body(self.version, self.snapshot(),
                                                              self.client.header_id(self.vehicle, "state")))

    async def publish_state(self, now: float | None = None) -> None:
        self._dirty = False
        self._last_state = time.monotonic() if now is None else now
        await self._send("state", state_body(self.version, self.snapshot()))

    async def _send(self, topic: str, body: Mapping[str, object]) -> None:
        try:
            await self.client.send(self.vehicle, self.version, topic, body)
        except BusDown:
            pass  # off the network: a vehicle keeps going, and says so when it is back

    # -- one step of the world -------------------------------------------------------------------
    def step(self, now: float, dt: float) -> None:
        if self.cancelling is not None and now >= self.cancel_at:
            self._cancelled(now)
        self._run_actions(now)
        if self.queue or self.stopped or self.cancelling is not None or not self.nodes or not self.nodes[0].released:
            return
        target = self.nodes[0]
        dx, dy = target.x - self.x, target.y - self.y
        dist = math.hypot(dx, dy)
        step = self.settings.speed * dt
        if dist > step:
            self.x, self.y = self.x + dx / dist * step, self.y + dy / dist * step
            self.theta = math.atan2(dy, dx)
            self.charge = max(0.0, self.charge - step / 1000 * self.settings.drain_per_km)
            return
        self.x, self.y = target.x, target.y
        self._traverse(target, now)

    def _traverse(self, node: Node, now: float) -> None:
        self.nodes.pop(0)
        if self.edges and self.edges[0].seq < node.seq:
            self.edges.pop(0)
        self.last_node_id, self.last_node_seq = node.id, node.seq
        self.queue += [a.id for a in node.actions if a.id in self.actions]
        self._dirty = True
        self._run_actions(now)

    def _run_actions(self, now: float) -> None:
        while self.queue:
            running = self.actions[self.queue[0]]
            if running.status == "WAITING":
                running.status, running.ends = "RUNNING", now + self.settings.action_s
                self._dirty = True
            if running.status == "RUNNING" and now < running.ends:
                return
            if running.status == "RUNNING":
                running.status = "FINISHED"
                self._effect(running.action)
                self._dirty = True
            self.queue.pop(0)

    def _effect(self, action: Action) -> None:
        params = dict(action.parameters)
        if action.type == "pick":
            self.loads = [str(params.get("loadId", "load"))]
        elif action.type == "drop":
            self.loads = []
        elif action.type in ("startCharging", "stopCharging"):
            self.charging = action.type == "startCharging"

    def snapshot(self) -> Snapshot:
        return Snapshot(
            self.order_id, self.update_id, self.last_node_id, self.last_node_seq,
            # 3.0: the first node of an order is never in nodeStates; it is traversed on acceptance
            list(self.nodes), list(self.edges), self._driving(), self.paused, self.x, self.y, self.theta, self.map_id,
            [(i, r.action.type, r.status) for i, r in self.actions.items()],
            [(i, r.action.type, r.status) for i, r in self.instant.items()],
            round(self.charge, 2), self.charging, list(self.errors), self.estopped, list(self.loads),
            [(z, m, st) for z, (m, st) in self.zone_sets.items()],
            [(r, z, zs, st) for r, (z, zs, st) in self.zone_requests.items()])

    def _driving(self) -> bool:
        return bool(self.nodes and self.nodes[0].released and not self.queue and not self.stopped
                    and self.cancelling is None)

    # -- messages in -----------------------------------------------------------------------------
    def _on_message(self, incoming: Incoming) -> None:
        if incoming.topic == "order" and not self.deaf:
            self._order(incoming.body)
        elif incoming.topic == "instantActions":
            for action in parse_instant(incoming.body):
                self._instant(action)
        elif incoming.topic == "zoneSet":
            zone_set = incoming.body["zoneSet"]
            self.zone_sets.setdefault(zone_set["zoneSetId"], [zone_set["mapId"], "DISABLED"])
        elif incoming.topic == "responses":
            self._responses(incoming.body["responses"])
        self._dirty = True

    def _responses(self, responses: list[Mapping[str, object]]) -> None:
        for response in responses:
            rid, grant = str(response["requestId"]), str(response["grantType"])
            if rid not in self.zone_requests:
                continue
            self.answers[rid] = grant
            if grant in ("REJECTED", "REVOKED"):
                del self.zone_requests[rid]
            elif grant == "GRANTED":  # QUEUED leaves it REQUESTED: the 3.0 state schema has no QUEUED status
                self.zone_requests[rid][2] = grant
                self.leases[rid] = str(response.get("leaseExpiry", ""))

    def _order(self, body: Mapping[str, object]) -> None:
        order = parse_order(self.version, body)
        refs = {"orderId": order.order_id, "orderUpdateId": str(order.update_id)}
        if order.order_id != self.order_id:
            if not self.idle or self.cancelling is not None:
                return self._reject("OTHER_ORDER_ACTIVE", refs)
            first = order.nodes[0]
            if math.hypot(first.x - self.x, first.y - self.y) > max(first.deviation, 0.05):
                return self._reject("START_NODE_OUT_OF_RANGE", refs)
            self._accept(order, new=True)
        elif self.cancelled:
            self._reject("ORDER_UPDATE_FOLLOWING_CANCEL", refs)
        elif order.update_id < self.update_id:
            self._reject("OUTDATED_ORDER_UPDATE", refs)
        elif order.update_id > self.update_id:
            if (order.nodes[0].id, order.nodes[0].seq) != self._decision_point():
                return self._reject("OUTDATED_ORDER_UPDATE", refs)
            self._accept(order, new=False)
        return None  # the same update again: ignored (section 6.1.4.5)

    def _decision_point(self) -> tuple[str, int]:
        base = [n for n in self.nodes if n.released]
        return (base[-1].id, base[-1].seq) if base else (self.last_node_id, self.last_node_seq)

    def _reject(self, error: str, refs: Mapping[str, str]) -> None:
        self.errors = [e for e in self.errors if e[0] != error] + [(error, "WARNING", dict(refs))]

    def _accept(self, order: ParsedOrder, new: bool) -> None:
        self.errors = [e for e in self.errors if e[1] != "WARNING"]  # reported until a new order is accepted
        self.orders += 1
        if new:
            self.actions, self.queue, self.cancelled = {}, [], False
            self.nodes, self.edges = list(order.nodes), list(order.edges)
        else:  # the horizon goes, the update is stitched on at the decision point
            horizon = {a.id for n in self.nodes if not n.released for a in n.actions}
            horizon |= {a.id for e in self.edges if not e.released for a in e.actions}
            for action_id in horizon:
                self.actions.pop(action_id, None)
            self.nodes = [n for n in self.nodes if n.released] + list(order.nodes[1:])
            self.edges = [e for e in self.edges if e.released] + list(order.edges)
        self.order_id, self.update_id = order.order_id, order.update_id
        fresh = [a for n in order.nodes[0 if new else 1:] for a in n.actions]
        fresh += [a for e in order.edges for a in e.actions]
        for action in fresh:
            self.actions.setdefault(action.id, _Running(action))
        if new:  # the first node is reached already: traversed at once
            self._traverse(self.nodes[0], time.monotonic())

    def _instant(self, action: Action) -> None:
        if action.type in self.unreflected:
            return
        running = self.instant[action.id] = _Running(action, "RUNNING")
        if action.type == "cancelOrder":
            if self.cancelling is not None:
                return  # the cancel under way goes on
            if self.idle:
                running.status = "FAILED"
                self.errors.append(("NO_ORDER_TO_CANCEL", "WARNING", {"actionId": action.id}))
                return
            self.cancelling, self.cancel_at = action.id, time.monotonic() + self.settings.cancel_s
            return
        if action.type in ("startPause", "stopPause"):
            self.paused = action.type == "startPause"
        elif action.type in ("startCharging", "stopCharging"):
            self.charging = action.type == "startCharging"
        elif action.type == "stateRequest":
            self._dirty = True
        elif action.type == "factsheetRequest":
            self._factsheet_due = True
        elif action.type == "enableZoneSet" and (zs := str(dict(action.parameters).get("zoneSetId"))) in self.zone_sets:
            for key, (map_id, _) in list(self.zone_sets.items()):
                if map_id == self.zone_sets[zs][0]:
                    self.zone_sets[key][1] = "ENABLED" if key == zs else "DISABLED"
        else:
            running.status = "FAILED"
            self.errors.append(("INVALID_INSTANT_ACTION", "WARNING", {"actionId": action.id}))
            return
        running.status = "FINISHED"

    def _cancelled(self, now: float) -> None:
        """The vehicle has stopped where it is: what was pending failed, the order is cleared (6.6.7)."""
        for running in self.actions.values():
            if running.status not in DONE:
                running.status = "FAILED"
        self.nodes, self.edges, self.queue = [], [], []
        self.cancelled = True
        self.instant[self.cancelling or ""].status = "FINISHED"
        self.cancelling = None
        self._dirty = True


def simulated(vehicles: Sequence[tuple[VehicleId, Version, YardNode]], schemas: Schemas, interface: str,
              settings: SimSettings, broker: LocalBroker | None = None,
              mqtt: BrokerSettings | None = None) -> list[VehicleSim]:
    """Simulated vehicles, each at its node: on the in-process ``broker``, or on the MQTT broker ``mqtt``
    through a :class:`Relay` each (so that :meth:`VehicleSim.disconnect` can cut it)."""
    out = []
    for vid, version, node in vehicles:
        relay, bus = None, None
        if mqtt is not None:
            relay = Relay(mqtt.host, mqtt.port)
            bus = MqttBus(replace(mqtt, host="127.0.0.1", port=relay.port, client_id=f"sim-{vid.manufacturer}-"
                                                                                    f"{vid.serial}"))
        out.append(VehicleSim(bus or LocalBus(broker or LocalBroker()), schemas, interface, vid, version,
                              node.x, node.y, node.map_id, node.id, settings, relay))
    return out
