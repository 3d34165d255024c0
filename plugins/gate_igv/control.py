"""One site's fleet control: the broker link, the vehicles it follows, the trips under way, their records.

A cargo lane's PASS becomes a :class:`Trip` (:meth:`FleetControl.submit`, committed to the outbox before
the lane acts on its decision); a dispatcher gives each waiting trip, oldest first, the nearest vehicle that
may take it; each trip runs its attempts (:mod:`gate_igv.trips`) and ends completed - handed over to the
partner when it ends at the hand-over point - or failed, with a fault on its lane.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from gatecore.api import PartnerMessage, error_text, new_id

from . import handover, records, resume
from .bus import BrokerSettings, Bus, BusDown, LocalBroker, LocalBus, MqttBus
from .client import Incoming, InvalidOutgoing, Vda5050Client, VehicleId
from .config import IgvSection
from .fleet import Vehicle, Vehicles
from .journal import AWAY, HEADERS, TRIP, Journal, default_dir
from .plan import plan
from .schemas import Schemas, search
from .trips import TICK_S, Attempt, Outcome, Trip
from .wire import DONE, Action, Order, instant_body, order_body, responses_body
from .yard import Yard
from .zones import Zones, zone_set_body

log = structlog.get_logger("gate_igv")

PartnerSend = Callable[[PartnerMessage], Awaitable[bool]]
FaultReport = Callable[[str, str, "str | None"], Awaitable[None]]


async def _no_partner(message: PartnerMessage) -> bool:
    return False


async def _no_fault(lane: str, code: str, txn: str | None) -> None:
    return None


def make_bus(cfg: IgvSection, site_id: str, broker: LocalBroker | None) -> Bus:
    if cfg.transport == "local":
        return LocalBus(broker or LocalBroker())
    host, port, tls = cfg.endpoint()
    return MqttBus(BrokerSettings(
        host, port, client_id=cfg.client_id or f"gatecore-igv-{site_id.replace('/', '.')}"[:128],
        username=cfg.username, password=cfg.password.reveal() if cfg.password else None,
        tls=ssl.create_default_context(cafile=cfg.ca_file) if tls else None))


async def _guarded(coro: Awaitable[Any]) -> None:
    """A task that runs beside the fleet (a simulated vehicle): its crash is logged, the fleet goes on."""
    try:
        await coro
    except Exception as exc:  # noqa: BLE001 - contained and logged
        log.error("igv_task_crashed", error=error_text(exc))


def orphaned(vehicle: Vehicle) -> bool:
    """Ours, online, reserved for no trip and not blocked, yet its state shows an order under way."""
    s = vehicle.state
    return (vehicle.ours and vehicle.online and vehicle.trip is None and vehicle.blocked is None
            and vehicle.handed_in is None and s is not None and bool(s.order_id) and not s.idle)


class FleetControl:
    def __init__(self, cfg: IgvSection, site_id: str, *, partner: PartnerSend = _no_partner,
                 fault: FaultReport = _no_fault, broker: LocalBroker | None = None) -> None:
        self.cfg, self.site_id, self.partner, self.fault = cfg, site_id, partner, fault
        self.yard = Yard(cfg.yard)
        self.schemas = Schemas(search(cfg.schemas))
        self.vehicles = Vehicles(self.yard, cfg.fleet + cfg.simulate, cfg.join_m)
        self.broker = broker or (LocalBroker() if cfg.transport == "local" else None)
        self.bus = make_bus(cfg, site_id, self.broker)
        self.client = Vda5050Client(self.bus, self.schemas, cfg.interface_name, "master", self._incoming,
                                    self.vehicles.expected, self._reserve_headers)
        self.outbox = records.make_outbox(cfg.records.path)
        self.journal = Journal(cfg.records.journal or default_dir(cfg.records.path))
        self.rules = {r.lane: r for r in cfg.dispatch}
        self.zones = Zones(cfg.zones) if cfg.zones is not None else None
        self.counts: Counter[str] = Counter()
        self.dispatch_ms: list[float] = []
        self.waiting: list[tuple[Trip, asyncio.Future[Vehicle]]] = []
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending: list[Trip] = []
        self._stop = asyncio.Event()
        self.done = asyncio.Event()
        self._opening: asyncio.Future[None] | None = None
        self.extra: list[Callable[[], Awaitable[Any]]] = []  # more tasks to run with the fleet (simulators)

    # -- running ---------------------------------------------------------------------------------
    async def open(self) -> None:
        """Open the outbox and reload the journal (once, however many callers ask at the same time)."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        await asyncio.shield(self._opening)

    async def _open(self) -> None:
        """The outbox, and what the journal has from before (read before a new trip can be written to it)."""
        await self.outbox.open()
        self._pending[:0] = await self._reload()

    async def serve(self) -> None:
        """Keep the broker link, deliver records, dispatch, run trips; until :meth:`stop`."""
        await self.open()
        await self.bus.subscribe(*self.client.follow_filters())
        transport = (records.BusTransport(self.bus, self.cfg.records.topic_prefix, self.site_id)
                     if self.cfg.records.transport == "mqtt" else records.FileTransport(self.cfg.records.local_path))
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                self._start(self.bus.run(), "igv/bus")
                self._start(self.outbox.deliver(transport), "igv/records")
                self._start(self._dispatcher(), "igv/dispatch")
                for make in self.extra:
                    self._start(_guarded(make()), "igv/extra")
                for trip in self._pending:
                    self._start(self._run(trip), f"igv/trip/{trip.id}")
                self._pending.clear()
                await self._stop.wait()
                await self.outbox.wait_idle(1.0)
                for task in list(self._tasks):
                    task.cancel()
        finally:
            self._tg = None
            with contextlib.suppress(Exception):
                await self.outbox.close()
            self.done.set()

    def stop(self) -> None:
        self._stop.set()

    def _start(self, coro: Any, name: str) -> None:
        assert self._tg is not None
        task = self._tg.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _incoming(self, incoming: Incoming) -> None:
        self.vehicles.handle(incoming)
        if self.zones is not None and incoming.version.full.startswith("3.") and self._tg is not None:
            self._zones(self.vehicles.get(incoming.vehicle), incoming.topic)

    def _zones(self, vehicle: Vehicle, topic: str) -> None:
        """3.0: the zone set to a vehicle that came online; answers to the requests in its state."""
        assert self.zones is not None
        if topic == "connection" and vehicle.online and vehicle.ours:
            self._start(self._send_zone_set(vehicle), f"igv/zones/{vehicle.id}")
        elif topic == "state" and vehicle.state is not None and vehicle.ours:
            answers = self.zones.answer(vehicle.id, self._version(vehicle), vehicle.state.zone_requests,
                                        vehicle.state.edge_requests)
            if answers:
                self._start(self._send(vehicle, "responses", responses_body(answers)), f"igv/responses/{vehicle.id}")

    async def _send_zone_set(self, vehicle: Vehicle) -> None:
        assert self.cfg.zones is not None
        if await self._send(vehicle, "zoneSet", zone_set_body(self.cfg.zones, self.cfg.yard.map_id)):
            await self.send_instant(vehicle, [Action("enableZoneSet", new_id(), "NONE",
                                                     (("zoneSetId", self.cfg.zones.zone_set_id),))])

    async def submit(self, lane: str, txn: str | None) -> Trip | None:
        """A PASS on ``lane``: a trip, if the lane has a dispatch rule; recorded before this returns."""
        rule = self.rules.get(lane)
        if rule is None:
            return None
        trip = Trip(new_id(), lane, txn, rule)
        await self.open()
        # both durable before the lane acts on its PASS; at the same time, so one fsync's wait, not two (a crash
        # in between leaves the lane's decision unacted on, and its crossing decided again)
        await asyncio.gather(self.journal.save(TRIP, trip.id, resume.entry(trip, None)),
                             self.record(trip, "requested", stops=list(rule.stops)))
        if self._tg is None:
            self._pending.append(trip)
        else:
            self._start(self._run(trip), f"igv/trip/{trip.id}")
        return trip

    # -- a trip ----------------------------------------------------------------------------------
    async def _run(self, trip: Trip) -> None:
        reason, vehicle = "no_vehicle", None
        try:
            while trip.resume is not None or trip.attempt < self.cfg.attempts:
                if trip.resume is not None:  # under way when the controller stopped: the same vehicle again
                    vehicle, outcome = await self._resumed(trip, trip.resume)
                else:
                    trip.attempt += 1
                    vehicle = await self._acquire(trip)
                    if vehicle is None:
                        reason = "no_vehicle"
                        break
                    outcome = await self._attempt(trip, vehicle)
                if outcome.ok:
                    await self._completed(trip, vehicle)
                    return
                reason = outcome.reason
                trip.tried.add(vehicle.id)
                await self.record(trip, "attempt_failed", vehicle=vehicle, reason=reason)
                await self.journal.save(TRIP, trip.id, resume.entry(trip, None))
                await self._release(vehicle, outcome)
                if outcome.loaded:
                    reason = f"{reason}_loaded"
                    break
            await self._failed(trip, vehicle, reason)
        except Exception as exc:  # noqa: BLE001 - a bug costs this trip, not the fleet: reported as a fault
            log.error("igv_trip_crashed", trip=trip.id, error=error_text(exc))
            await self._failed(trip, vehicle, "trip_error")
        finally:
            trip.done.set()

    async def _acquire(self, trip: Trip) -> Vehicle | None:
        future: asyncio.Future[Vehicle] = asyncio.get_running_loop().create_future()
        entry = (trip, future)
        self.waiting.append(entry)
        self._assign()
        try:
            async with asyncio.timeout(self.cfg.timing.vehicle_s):
                return await future
        except TimeoutError:
            return None
        finally:
            with contextlib.suppress(ValueError):
                self.waiting.remove(entry)

    async def _attempt(self, trip: Trip, vehicle: Vehicle) -> Outcome:
        start = self.vehicles.start_of(vehicle)
        order_id = f"{trip.id}.{trip.attempt}"
        route = plan(self.yard, order_id, start[0], trip.rule.stops, vehicle.type, start[1], self.cfg.base_nodes,
                     self.cfg.horizon_nodes) if start is not None else None
        if route is None or start is None:
            return Outcome(False, "no_route")
        attempt = Attempt(self, trip, vehicle, route, order_id, start)
        await self.journal_attempt(attempt)
        await attempt.start()  # the trip is on record since its PASS: the order goes first, then the record
        await self.record(trip, "dispatched", vehicle=vehicle, order=order_id)
        log.info("igv_dispatched", trip=trip.id, lane=trip.lane, vehicle=str(vehicle.id), attempt=trip.attempt)
        return await attempt.follow()

    async def _resumed(self, trip: Trip, run: dict[str, Any]) -> tuple[Vehicle, Outcome]:
        """Follow the attempt the journal has again: its vehicle's ``state`` shows the order (followed on),
        an older update (resent), or neither (resent, then judged as a first order is); a vehicle that
        does not come back within ``reconnect_s`` is lost."""
        trip.resume = None
        vehicle = self.vehicles.get(VehicleId.parse(run["vehicle"]))
        vehicle.trip = trip
        start, here = resume.origin(run)
        route = plan(self.yard, run["order"], start, trip.rule.stops, vehicle.type, here, self.cfg.base_nodes,
                     self.cfg.horizon_nodes) if start in self.yard.nodes else None
        if route is None:
            return vehicle, Outcome(False, "no_route")
        attempt = Attempt(self, trip, vehicle, route, run["order"], (start, here))
        attempt.restore(run)
        log.info("igv_resumed", trip=trip.id, lane=trip.lane, vehicle=str(vehicle.id), attempt=trip.attempt)
        return vehicle, await attempt.follow()

    async def _reserve_headers(self, vehicle: VehicleId, topic: str, n: int) -> None:
        try:
            await self.journal.save(HEADERS, f"{vehicle}/{topic}", {"next": n})
        except OSError as exc:  # the ids still rise in this run; only a restart could repeat some
            log.error("igv_journal_write_failed", what="headers", error=error_text(exc))

    def _resume_headers(self, entries: dict[str, dict[str, Any]]) -> None:
        reserved = {}
        for key, body in entries.items():
            vehicle, _, topic = key.rpartition("/")
            try:
                reserved[VehicleId.parse(vehicle), topic] = int(body["next"])
            except (KeyError, TypeError, ValueError) as exc:
                log.error("igv_journal_unreadable", headers=key, error=error_text(exc))
        self.client.resume_headers(reserved)

    async def _reload(self) -> list[Trip]:
        """After a restart: header ids go on from those reserved; the vehicles handed over stay the partner's;
        the trips under way go on."""
        self._resume_headers(await self.journal.load(HEADERS))
        for key in await self.journal.load(AWAY):
            vehicle = self.vehicles.get(VehicleId.parse(key))
            vehicle.ours = False
        trips: list[Trip] = []
        for key, body in (await self.journal.load(TRIP)).items():
            try:
                trip = resume.restore(body, self.rules, time.time(), time.perf_counter())
            except (KeyError, TypeError, ValueError) as exc:  # not an entry this code wrote: kept, not resumed
                log.error("igv_journal_unreadable", trip=key, error=error_text(exc))
                continue
            if trip is None:
                log.warning("igv_trip_dropped", trip=key, why="no_dispatch_rule")
                await self.journal.drop(TRIP, key)
                continue
            if trip.resume is not None:
                self.vehicles.get(VehicleId.parse(trip.resume["vehicle"])).trip = trip  # reserved for it
            trips.append(trip)
        return trips

    async def journal_attempt(self, attempt: Attempt) -> None:
        await self.journal.save(TRIP, attempt.trip.id, resume.entry(attempt.trip, attempt))

    async def _release(self, vehicle: Vehicle, outcome: Outcome) -> None:
        """After a failed attempt: cancel what the vehicle still does, then free it (or block it)."""
        if not outcome.hears:
            vehicle.blocked = "lost"
        elif not await self.cancel(vehicle):
            vehicle.blocked = "unresponsive"
        if vehicle.blocked:
            log.warning("igv_vehicle_blocked", vehicle=str(vehicle.id), why=vehicle.blocked)
        vehicle.trip = None
        self.vehicles.changed.notify()

    async def _completed(self, trip: Trip, vehicle: Vehicle) -> None:
        seconds = round(time.perf_counter() - trip.t0, 3)
        await self.record(trip, "completed", vehicle=vehicle, seconds=seconds)
        last = self.yard.stations[trip.rule.stops[-1]]
        vehicle.trip = None
        if last.kind == "handover":
            message = handover.message(self.site_id, trip.id, vehicle, trip.rule.stops[-1], last.node)
            taken = await self.partner(message)
            # with a link the vehicle is released (this side sends it nothing more until the partner hands it
            # back); without one nobody takes it over, and the hand-over is a record only
            vehicle.ours = not taken
            if taken and self.zones is not None and (revoked := self.zones.revoke(vehicle.id)):
                await self._send(vehicle, "responses", responses_body(revoked))
            await self.record(trip, "handed_over", vehicle=vehicle, handover="sent" if taken else "recorded")
            self.counts["handed_over"] += 1
            if taken:  # the partner's until it hands the vehicle back, over a restart too
                await self.journal.save(AWAY, str(vehicle.id), {"trip": trip.id, "point": trip.rule.stops[-1]})
        self.counts["completed"] += 1  # counted once all its records are in the outbox
        await self.journal.drop(TRIP, trip.id)
        self.vehicles.changed.notify()

    async def _failed(self, trip: Trip, vehicle: Vehicle | None, reason: str) -> None:
        log.warning("igv_trip_failed", trip=trip.id, lane=trip.lane, reason=reason)
        await self.record(trip, "failed", vehicle=vehicle, reason=reason)
        self.counts["failed"] += 1
        await self.journal.drop(TRIP, trip.id)
        await self.fault(trip.lane, f"igv_{reason}", trip.txn)

    # -- dispatching and taking over ---------------------------------------------------------------
    async def _dispatcher(self) -> None:
        while True:
            await self.vehicles.changed.wait(1.0)
            self._assign()
            for vehicle in self.vehicles.all.values():
                if vehicle.handed_in is not None and handover.arrived(vehicle, self.yard):
                    await self._take_over(vehicle)
                elif vehicle.blocked == "lost" and vehicle.online and vehicle.state is not None:
                    await self._cancel_blocked(vehicle)
                elif (state := vehicle.state) is not None and orphaned(vehicle):
                    # a controller stopped while cancelling it, or its journal was lost
                    log.warning("igv_order_orphaned", vehicle=str(vehicle.id), order=state.order_id)
                    vehicle.blocked = "orphaned"
                    await self._cancel_blocked(vehicle)

    async def _cancel_blocked(self, vehicle: Vehicle) -> None:
        """Cancel what a blocked vehicle (lost and back, or driving an order no trip follows) still does; free
        it once idle, else it stays blocked as unresponsive."""
        vehicle.blocked = None if await self.cancel(vehicle) else "unresponsive"
        self.vehicles.changed.notify()

    def _assign(self) -> None:
        for trip, future in list(self.waiting):
            if future.done():
                continue
            pick = self.yard.stations[trip.rule.stops[0]].node
            vehicle = self.vehicles.choose(pick, trip.rule.vehicle_type, self.cfg.min_charge, trip.tried)
            if vehicle is not None:
                vehicle.trip = trip
                future.set_result(vehicle)

    async def _take_over(self, vehicle: Vehicle) -> None:
        payload = vehicle.handed_in or {}
        vehicle.ours, vehicle.handed_in = True, None
        await self.journal.drop(AWAY, str(vehicle.id))
        log.info("igv_taken_over", vehicle=str(vehicle.id))
        self.counts["taken_over"] += 1
        await self.put(records.YARD_LANE, str(payload["trip"]), "taken_over", vehicle, stops=[str(payload["point"])])
        self.vehicles.changed.notify()

    def receive_handover(self, message: PartnerMessage) -> bool | None:
        """A hand-over from the partner (``gatecore_partner_receive``): ``None`` if not ours to read."""
        if message.kind != handover.KIND:
            return None
        payload = handover.checked(message.payload)
        if payload is None:
            return False
        vehicle = self.vehicles.get(VehicleId(payload["manufacturer"], payload["serialNumber"]))
        if not vehicle.ours:
            vehicle.handed_in = payload
            vehicle.version = vehicle.version or handover.version(payload)
            self.vehicles.changed.notify()
        return True

    # -- the wire ----------------------------------------------------------------------------------
    async def send_order(self, vehicle: Vehicle, order: Order) -> bool:
        return await self._send(vehicle, "order", order_body(self._version(vehicle), order))

    async def send_instant(self, vehicle: Vehicle, actions: list[Action]) -> bool:
        return await self._send(vehicle, "instantActions", instant_body(self._version(vehicle), actions))

    def _version(self, vehicle: Vehicle) -> Any:
        assert vehicle.version is not None, "a vehicle is dispatched only once its version is known"
        return vehicle.version

    async def _send(self, vehicle: Vehicle, topic: str, body: dict[str, Any]) -> bool:
        try:
            await self.client.send(vehicle.id, self._version(vehicle), topic, body)
        except BusDown:
            return False
        except InvalidOutgoing as exc:  # a bug: logged loudly, the message is not sent
            log.error("igv_message_invalid", vehicle=str(vehicle.id), what=topic.lower(), error=error_text(exc))
            return False
        return True

    async def cancel(self, vehicle: Vehicle) -> bool:
        """Cancel what ``vehicle`` does and wait until it is idle; ``False`` if it never shows the cancel
        (sent ``resends`` + 1 times at most) or does not finish within ``cancel_s``."""
        t = self.cfg.timing
        action = Action("cancelOrder", new_id(), "NONE")
        sends, sent_at, deadline = 0, -1e9, time.monotonic() + t.cancel_s
        while time.monotonic() < deadline:
            s = vehicle.state
            status = s.instant.get(action.id) if s is not None else None
            if s is not None and s.idle and (sends == 0 or status in DONE):
                return True  # cancelled, or nothing to cancel (never a cancel to an idle vehicle)
            if status == "FAILED":
                return False
            if status is None and vehicle.online and self.bus.up and time.monotonic() - sent_at >= t.ack_s:
                if sends > t.resends:
                    return False  # never shown in its state: not resent for ever
                sends += 1
                sent_at = time.monotonic()
                await self.send_instant(vehicle, [action])
            await vehicle.changed.wait(TICK_S)
        log.warning("igv_cancel_unfinished", vehicle=str(vehicle.id), attempt=sends)
        return False

    async def record(self, trip: Trip, status: str, *, vehicle: Vehicle | None = None, **fields: Any) -> None:
        await self.put(trip.lane, trip.id, status, vehicle, txn=trip.txn, attempt=trip.attempt, **fields)

    async def put(self, lane: str, trip: str, status: str, vehicle: Vehicle | None, **fields: Any) -> None:
        if vehicle is not None:
            fields.update(vehicle=str(vehicle.id), version=vehicle.version.full if vehicle.version else None)
        payload = records.record(self.site_id, lane, trip, status, **fields)
        await self.outbox.put(lane, records.KIND, payload, id=payload["id"])

    def figures(self) -> dict[str, Any]:
        return {"trips": sum(self.counts[k] for k in ("completed", "failed")), "completed": self.counts["completed"],
                "failed": self.counts["failed"], "handed_over": self.counts["handed_over"],
                "invalid_messages": self.client.invalid}


__all__ = ["FleetControl", "Yard", "make_bus"]
