"""One trip, from the cargo lane's PASS to the hand-over point: a vehicle is chosen, sent its order and the
updates that release the route bit by bit, and followed through ``state`` until it is done.

What goes wrong ends the attempt with a reason (a code): the order was rejected or never shown in
``state`` after ``timing.resends`` resends (``QoS 0`` orders get lost on poor networks: only ``state``
says an order arrived), a CRITICAL or FATAL error, an action that FAILED, an e-stop longer than
``estop_s``, a lost connection (the last will) not back within ``reconnect_s``, no progress for
``progress_s``, the trip past ``trip_s``. A vehicle that can still hear is then sent ``cancelOrder`` and
nothing else until the cancel has finished (one that never shows the cancel is resent it ``resends`` times,
never more, then left blocked); the trip goes to the next vehicle, unless the load was already picked or
the attempts are used up: then it fails, and the fault goes to the lane and the IOC. While the fleet
control's own broker link is down, its clocks for acknowledgements and progress stand still.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .client import VehicleId
from .config import DispatchRule
from .fleet import Vehicle
from .plan import Plan
from .wire import Order, VehicleState

if TYPE_CHECKING:
    from .control import FleetControl

TICK_S = 0.1


@dataclass(eq=False)
class Trip:
    id: str
    lane: str
    txn: str | None
    rule: DispatchRule
    t0: float = field(default_factory=time.perf_counter)
    t_wall: float = field(default_factory=time.time)  # when it was requested (epoch s), kept over a restart
    attempt: int = 0
    dispatch_ms: float | None = None  # PASS to the first order on the wire
    done: asyncio.Event = field(default_factory=asyncio.Event)  # set when the trip has ended, either way
    tried: set[VehicleId] = field(default_factory=set)  # vehicles whose attempt failed: not chosen again
    resume: dict[str, Any] | None = None  # the journal's attempt under way when the controller stopped


@dataclass
class Outcome:
    ok: bool
    reason: str = ""
    loaded: bool = False  # the load was picked before it went wrong
    hears: bool = True  # the vehicle can be sent a cancel


class Attempt:
    """One vehicle's attempt at a trip."""

    def __init__(self, ctl: FleetControl, trip: Trip, vehicle: Vehicle, plan: Plan, order_id: str,
                 origin: tuple[str, tuple[float, float, str] | None]) -> None:
        """``origin``: the node the route starts from and the vehicle's position off the graph, if it was."""
        self.ctl, self.trip, self.vehicle, self.plan, self.order_id = ctl, trip, vehicle, plan, order_id
        self.origin = origin
        t = ctl.cfg.timing
        self.timing = t
        self.update_id = 0
        self.stitch, self.released = 0, plan.first_released()
        self.order: Order = plan.order(order_id, 0, 0, self.released)
        self.acked = self.resend = False
        self.resends = 0
        self.sent_at = self.progress_at = time.monotonic()
        self.progress = -1
        self.broken_at: float | None = None
        self.estop_at: float | None = None
        self.deadline = time.monotonic() + t.trip_s
        self.pick_ids = {a.id for a in plan.nodes[plan.stops[0]].actions if a.type == "pick"}
        self.loaded = False
        self.load_unknown = False  # resumed, and the vehicle's state not seen yet: it may carry the load
        self.t_wall = time.time()

    def restore(self, saved: dict[str, Any]) -> None:
        """Go on from what the journal says was sent last (after a restart): the same update, released as
        far, its clocks counted from when the attempt began; ``state`` then says whether it arrived."""
        self.update_id, self.stitch, self.released = int(saved["update"]), int(saved["stitch"]), int(saved["released"])
        self.order = self.plan.order(self.order_id, self.update_id, self.stitch, self.released)
        self.loaded = bool(saved["loaded"])
        self.load_unknown = not self.loaded
        self.t_wall = float(saved["t_attempt"])
        self.deadline = time.monotonic() + self.timing.trip_s - max(0.0, time.time() - self.t_wall)

    def saved(self) -> dict[str, Any]:
        """What :meth:`restore` needs (the vehicle, order and start are the controller's to add)."""
        return {"update": self.update_id, "stitch": self.stitch, "released": self.released, "loaded": self.loaded,
                "t_attempt": self.t_wall}

    async def start(self) -> None:
        """Send the first order."""
        await self._send()

    async def follow(self) -> Outcome:
        """Follow the vehicle until the attempt has an outcome (after :meth:`start`)."""
        while True:
            await self.vehicle.changed.wait(TICK_S)
            outcome = self.check(time.monotonic())
            if outcome is not None:
                return outcome
            if self.resend:
                self.resend = False
                await self._send()
            elif self._extend_due():
                await self._extend()

    # -- the checks, on each state or tick ----------------------------------------------------------
    def check(self, now: float) -> Outcome | None:
        if not self.ctl.bus.up:  # our own link is down: nothing to judge by, the clocks stand still
            self.sent_at = self.progress_at = now
            return None
        if now > self.deadline:
            return self._fail("trip_timeout")
        broken = self._connection(now)
        if broken is not None:
            return broken
        s = self.vehicle.state
        if s is None:
            return None
        self.load_unknown = False  # its state says: the pick is FINISHED in it, or the load is not ours
        if not self._acknowledged(s):
            return self._waiting(s, now)
        return self._progress(s, now)

    def _connection(self, now: float) -> Outcome | None:
        if self.vehicle.online:
            self.broken_at = None
            return None
        self.broken_at = self.broken_at or now
        self.sent_at = self.progress_at = now
        if now - self.broken_at > self.timing.reconnect_s:
            return Outcome(False, "vehicle_lost", self.loaded or self.load_unknown, hears=False)
        return None

    def _acknowledged(self, s: VehicleState) -> bool:
        if s.order_id == self.order_id and s.update_id >= self.update_id:
            if not self.acked:
                self.acked, self.resends = True, 0
            return True
        return False

    def _waiting(self, s: VehicleState, now: float) -> Outcome | None:
        """The order (or its latest update) is not in ``state`` yet: rejected, resent, or given up."""
        if s.refers_to(self.order_id) is not None and (s.order_id != self.order_id or s.update_id < self.update_id):
            return self._fail("order_rejected")
        if now - self.sent_at < self.timing.ack_s:
            return None
        if self.resends >= self.timing.resends:
            return self._fail("order_not_acknowledged")
        self.resends += 1
        self.resend = True
        return None

    def _progress(self, s: VehicleState, now: float) -> Outcome | None:
        self.loaded = self.loaded or any(s.actions.get(a) == "FINISHED" for a in self.pick_ids)
        error = s.stopping_error
        if error is not None:
            return self._fail("vehicle_fatal" if error.level == "FATAL" else "vehicle_critical")
        if any(s.actions.get(a) == "FAILED" for a in self.plan.action_ids):
            return self._fail("action_failed")
        if s.estop:
            self.estop_at = self.estop_at or now
            if now - self.estop_at > self.timing.estop_s:
                return self._fail("vehicle_estop")
        else:
            self.estop_at = None
        if s.last_node_seq > self.progress or s.driving or "RUNNING" in s.actions.values():
            self.progress, self.progress_at = max(self.progress, s.last_node_seq), now
        elif now - self.progress_at > self.timing.progress_s:
            return self._fail("no_progress")
        return self._done(s)

    def _done(self, s: VehicleState) -> Outcome | None:
        last = self.plan.last
        finished = all(s.actions.get(a) == "FINISHED" for a in self.plan.action_ids)
        if self.released == len(self.plan.nodes) - 1 and (s.last_node_id, s.last_node_seq) == (last.id, last.seq) \
                and s.idle and finished:
            return Outcome(True, loaded=self.loaded)
        return None

    def _fail(self, reason: str) -> Outcome:
        return Outcome(False, reason, self.loaded or self.load_unknown)

    # -- what goes out ---------------------------------------------------------------------------
    def _extend_due(self) -> bool:
        s = self.vehicle.state
        if not self.acked or s is None or self.released >= len(self.plan.nodes) - 1:
            return False
        ahead = (self.plan.nodes[self.released].seq - s.last_node_seq) // 2  # released nodes still to go
        return ahead <= self.plan.base // 2

    async def _extend(self) -> None:
        self.stitch = self.released
        self.released = min(len(self.plan.nodes) - 1, self.released + self.plan.base)
        self.update_id += 1
        self.order = self.plan.order(self.order_id, self.update_id, self.stitch, self.released)
        self.acked, self.resends = False, 0
        await self.ctl.journal_attempt(self)  # before it goes out: a restart resends it if state lacks it
        await self._send()

    async def _send(self) -> None:
        self.sent_at = time.monotonic()
        sent = await self.ctl.send_order(self.vehicle, self.order)
        if sent and self.trip.dispatch_ms is None:
            self.trip.dispatch_ms = (time.perf_counter() - self.trip.t0) * 1000
            self.ctl.dispatch_ms.append(self.trip.dispatch_ms)

