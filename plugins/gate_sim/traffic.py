"""Simulated traffic: Poisson arrivals per lane, each crossing driven through the lane's devices."""

from __future__ import annotations

import asyncio
import random

import structlog

from gatecore.api import BarrierPosition

from .config import SimSection
from .devices import SimBarrier, SimDisplay, SimFaults, SimPresence, SimReader
from .world import LaneWorld, World

log = structlog.get_logger("gate_sim")

#: How long an arrival waits for any reaction before leaving (a degraded lane, say).
PATIENCE_S = 5.0
REFUSALS = ("refer to officer", "denied")


class Traffic:
    def __init__(self, world: LaneWorld, trigger: str, exit_role: str | None, barrier: str,
                 cfg: SimSection, rng: random.Random) -> None:
        self.world, self.cfg, self.rng = world, cfg, rng
        self.trigger = world.devices.get(trigger)
        self.exit = world.devices.get(exit_role) if exit_role else None
        self.barrier = world.devices.get(barrier)
        self.arrived = 0
        self.queue: asyncio.Queue[int] = asyncio.Queue()

    def ready(self) -> bool:
        return isinstance(self.barrier, SimBarrier) and isinstance(self.trigger, SimPresence | SimReader)

    async def arrivals(self) -> None:
        rate = self.cfg.arrivals_per_min / 60
        while True:
            await asyncio.sleep(self.rng.expovariate(rate))
            self.arrived += 1
            self.queue.put_nowait(self.arrived)

    async def crossings(self) -> None:
        while True:
            number = await self.queue.get()
            await self._lane_ready()
            await self.cross(number)

    async def _lane_ready(self) -> None:
        """The next in line steps up once the display no longer shows the previous refusal."""
        waited = 0.0
        while (display := self._display()) is not None and display.text in REFUSALS and waited < PATIENCE_S:
            await self.world.wait_change(0.25)
            waited += 0.25

    def _display(self) -> SimDisplay | None:
        return next((d for d in self.world.devices.values() if isinstance(d, SimDisplay)), None)

    def _refused(self, since: int) -> bool:
        """The lane said no since the arrival: its display shows a refer or a denial (without a display,
        patience runs out)."""
        display = self._display()
        return display is not None and display.version > since and display.text in REFUSALS

    async def cross(self, number: int) -> None:
        assert isinstance(self.barrier, SimBarrier)
        display = self._display()
        since = display.version if display else 0
        self._present(True)
        waited = 0.0
        while self.barrier.position is not BarrierPosition.OPEN and not self._refused(since) and waited < PATIENCE_S:
            await self.world.wait_change(0.25)
            waited += 0.25
        if self.barrier.position is BarrierPosition.OPEN:
            await self._drive_through()
        else:
            await asyncio.sleep(self.cfg.officer_ms / 1000)
            self._present(False)
        while self.barrier.position is not BarrierPosition.CLOSED and not self._barrier_faulty():
            await self.world.wait_change(0.5)

    def _barrier_faulty(self) -> bool:
        return isinstance(self.barrier, SimFaults) and self.barrier.mode is not None

    def _present(self, here: bool) -> None:
        if isinstance(self.trigger, SimReader):
            if here:
                self.trigger.present(f"SIM-PASS-{self.world.lane_id}-{self.arrived}")
        elif isinstance(self.trigger, SimPresence):
            self.trigger.set(here)

    async def _drive_through(self) -> None:
        dwell = self.cfg.dwell_ms / 1000
        await asyncio.sleep(dwell)
        if isinstance(self.exit, SimPresence):
            self.exit.set(True)
        self._present(False)
        await asyncio.sleep(dwell)
        if isinstance(self.exit, SimPresence):
            self.exit.set(False)


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
