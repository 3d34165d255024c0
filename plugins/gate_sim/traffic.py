"""Simulated traffic: Poisson arrivals per lane, each crossing driven through the lane's devices."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable

import structlog

from gatecore.api import BarrierPosition, LaneState, LaneView

from .config import SimSection
from .devices import SimBarrier, SimDisplay, SimFaults, SimPresence, SimReader
from .world import LaneWorld, World

log = structlog.get_logger("gate_sim")

#: How long an arrival waits for any reaction before leaving (a degraded lane, say).
PATIENCE_S = 5.0
REFUSALS = ("refer to officer", "denied")
#: how often a traveller at a reader looks whether the lane is ready for the scan
SCAN_RETRY_S = 0.02


class Traffic:
    """One lane's traffic: Poisson arrivals that queue, step up one at a time and cross.

    Each arrival steps up once the display no longer shows the previous refusal, shows its pass or
    occupies the entry loop, and then either drives through when the barrier opens (entry loop, exit
    loop, each for ``dwell_ms``) or leaves after ``officer_ms`` when the lane refers or denies it (or
    nothing happens for ``PATIENCE_S``). While the lane waits for an officer (state ``referred``) the
    arrival waits too: through when the officer lets it (the barrier opens), away ``officer_ms`` after
    the officer says no or the lane stops waiting. The next one waits until the barrier is closed again.

    The agent is a state machine driven by timers and by the lane world's change notices, so a crossing
    costs a few callbacks, not a task waking up at every step.
    """

    def __init__(self, world: LaneWorld, trigger: str, exit_role: str | None, barrier: str,
                 cfg: SimSection, rng: random.Random, lane: LaneView | None = None) -> None:
        self.world, self.cfg, self.rng, self.lane = world, cfg, rng, lane
        self.trigger = world.devices.get(trigger)
        self.exit = world.devices.get(exit_role) if exit_role else None
        self.barrier = world.devices.get(barrier)
        self.display = next((d for d in world.devices.values() if isinstance(d, SimDisplay)), None)
        self.arrived = 0
        self.queue: deque[int] = deque()
        self.state = "idle"  # idle | blocked | waiting | referred | driving | leaving | clearing
        self._since = 0  # the display's message count when the current arrival stepped up
        self._timer: asyncio.TimerHandle | None = None
        self._arrival: asyncio.TimerHandle | None = None
        self._scan_retry: asyncio.TimerHandle | None = None

    def ready(self) -> bool:
        return isinstance(self.barrier, SimBarrier) and isinstance(self.trigger, SimPresence | SimReader)

    async def run(self) -> None:
        """Generate traffic until cancelled (the site owns this task; it sleeps between shutdowns)."""
        self.world.watchers.append(self._changed)
        self._schedule_arrival()
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            self.world.watchers.remove(self._changed)
            for handle in (self._timer, self._arrival, self._scan_retry):
                if handle is not None:
                    handle.cancel()

    # -- arrivals ----------------------------------------------------------------------------
    def _schedule_arrival(self) -> None:
        delay = self.rng.expovariate(self.cfg.arrivals_per_min / 60)
        self._arrival = asyncio.get_running_loop().call_later(delay, self._arrive)

    def _arrive(self) -> None:
        self.arrived += 1
        self.queue.append(self.arrived)
        self._schedule_arrival()
        if self.state == "idle":
            self._step_up()

    # -- one crossing ------------------------------------------------------------------------
    def _after(self, seconds: float, then: Callable[[], None]) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, then)

    def _refusing(self) -> bool:
        return self.display is not None and self.display.text in REFUSALS

    def _step_up(self) -> None:
        """The next in line steps up once the display no longer shows the previous refusal (or
        patience runs out)."""
        if not self.queue:
            self.state = "idle"
        elif self._refusing() and self.state != "blocked":
            self.state = "blocked"
            self._after(PATIENCE_S, self._present_next)
        elif not self._refusing():
            self._present_next()

    def _present_next(self) -> None:
        number = self.queue.popleft()
        self._since = self.display.version if self.display else 0
        self.state = "waiting"
        self._present(True, number)
        self._after(PATIENCE_S, self._give_up)

    def _changed(self) -> None:
        if self.state == "blocked" and not self._refusing():
            self._present_next()
        elif self.state == "waiting":
            if self._open():
                self._drive_in()
            elif self.display is not None and self.display.version > self._since and self._refusing():
                if self._referred():
                    self._wait_for_officer()
                else:
                    self._leave_later()
        elif self.state == "referred":
            if self._open():
                self._drive_in()
            elif not self._referred() and self._refusing():  # the officer said no, or nobody answered in time
                self._leave_later()
        elif self.state == "clearing":
            self._check_clear()

    def _referred(self) -> bool:
        return self.lane is not None and self.lane.state is LaneState.REFERRED

    def _wait_for_officer(self) -> None:
        """Wait as long as the lane waits for an officer (and a little longer, should nothing happen)."""
        self.state = "referred"
        assert self.lane is not None
        self._after(self.lane.config.policy.officer_timeout_ms / 1000 + PATIENCE_S, self._give_up)

    def _leave_later(self) -> None:
        self.state = "leaving"
        self._after(self.cfg.officer_ms / 1000, self._leave)

    def _open(self) -> bool:
        return isinstance(self.barrier, SimBarrier) and self.barrier.position is BarrierPosition.OPEN

    def _give_up(self) -> None:
        """Nothing happened for PATIENCE_S (a degraded lane, say): drive if open, else leave."""
        if self._open():
            self._drive_in()
        else:
            self._leave_later()

    def _drive_in(self) -> None:
        self.state = "driving"
        self._after(self.cfg.dwell_ms / 1000, self._on_exit_loop)

    def _on_exit_loop(self) -> None:
        if isinstance(self.exit, SimPresence):
            self.exit.set(True)
        self._present(False)
        self._after(self.cfg.dwell_ms / 1000, self._off_exit_loop)

    def _off_exit_loop(self) -> None:
        if isinstance(self.exit, SimPresence):
            self.exit.set(False)
        self._clearing()

    def _leave(self) -> None:
        self._present(False)
        self._clearing()

    def _clearing(self) -> None:
        self.state = "clearing"
        self._check_clear()

    def _check_clear(self) -> None:
        """The next one steps up once the barrier is closed again (or it is faulty: nobody waits for a
        broken barrier). A fault changes nothing the traffic sees, so this looks again now and then."""
        assert isinstance(self.barrier, SimBarrier)
        if self.barrier.position is BarrierPosition.CLOSED or self.barrier.mode is not None:
            self.state = "idle"
            if self._timer is not None:
                self._timer.cancel()
            self._step_up()
        else:
            self._after(0.5, self._check_clear)

    def _present(self, here: bool, number: int = 0) -> None:
        """The arrival steps up (``here``; the world's next traveller, if it has a line for this lane) or
        has left."""
        if here:
            arrival = self.world.arrive(number)
            if arrival is not None and arrival.pass_text is None and isinstance(self.trigger, SimReader):
                return  # nothing to scan: nothing starts (the world sends no such traveller to a reader lane)
        else:
            arrival = None
        if isinstance(self.trigger, SimReader):
            if here:
                text = arrival.pass_text if arrival is not None else None
                self._scan(text or f"SIM-PASS-{self.world.lane_id}-{number}")
        elif isinstance(self.trigger, SimPresence):
            self.trigger.set(here)


    def _scan(self, text: str, tries: int = int(PATIENCE_S / SCAN_RETRY_S)) -> None:
        """Scan once the lane is idle again (a reader scan is one moment: a lane still closing up after the
        previous crossing would not see it), looking again every SCAN_RETRY_S until patience runs out."""
        assert isinstance(self.trigger, SimReader)
        if self.lane is None or self.lane.state is LaneState.IDLE or tries <= 0:
            self.trigger.present(text)
        elif self.state == "waiting":
            self._scan_retry = asyncio.get_running_loop().call_later(SCAN_RETRY_S, self._scan, text, tries - 1)


async def run_faults(world: World, cfg: SimSection) -> None:
    """Apply the profile's fault plan at its times."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    events = sorted([(p.at_s, p, p.mode) for p in cfg.faults] + [(p.at_s + p.for_s, p, None) for p in cfg.faults],
                    key=lambda e: e[0])
    for at, plan, mode in events:
        await asyncio.sleep(max(0.0, start + at - loop.time()))
        device = world.lane(plan.lane).devices.get(plan.role)
        if isinstance(device, SimFaults):
            log.warning("sim_fault", lane=plan.lane, role=plan.role, mode=mode or "healed")
            device.inject(mode)
            world.lane(plan.lane).fault(plan.role, mode is not None, loop.time())
