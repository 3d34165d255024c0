"""The site: every lane of a profile, its devices and plugins, in one process under one TaskGroup."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import statistics
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import pluggy
import structlog

from gatecore.config import ConfigModel, DeviceConfig, EvidenceConfig, LaneConfig
from gatecore.devices import Barrier, Device, DeviceContext, DeviceError, DeviceEvent
from gatecore.evidence import EvidenceSource, TransactionContext
from gatecore.lane import Lane, LaneInfo
from gatecore.plugins import Pending, await_pending, call_all, call_now, log_failures
from gatecore.profile import Profile
from gatecore.stash import Stash, StashKey
from gatecore.types import Decision, Evidence, Fault, LaneStateChange, Outcome, SharedState, Stamp, Vote

__all__ = ["LaneInfo", "Profile", "Site", "SiteError"]

log = structlog.get_logger("gatecore.site")

T = TypeVar("T")
S = TypeVar("S", bound=ConfigModel)


class SiteError(Exception):
    """The site cannot be assembled (a kind no plugin makes, a device of the wrong model)."""


class Site:
    """Assembles lanes from a profile and runs them. Plugins get it in their site hooks."""

    def __init__(self, profile: Profile, pm: pluggy.PluginManager) -> None:
        self.profile = profile
        self.pm = pm
        self.id = profile.site.id
        self.stash = Stash()
        self.lanes: dict[str, Lane] = {}
        self.started = time.monotonic()
        self._tg: asyncio.TaskGroup | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._pending: list[tuple[Coroutine[Any, Any, Any], str]] = []
        self._stop = asyncio.Event()
        self._states: asyncio.Queue[Pending] = asyncio.Queue()
        self._want_states = bool(pm.hook.gatecore_report_lane_state.get_hookimpls())
        self._report_timeout = profile.run.report_timeout_ms / 1000
        self._crossings_target: int | None = None
        self._crossings = 0
        for lane_cfg in profile.lanes:
            self.lanes[lane_cfg.id] = self._build_lane(lane_cfg)

    # -- assembly ------------------------------------------------------------------------------
    def plugin_config(self, name: str) -> ConfigModel | None:
        return self.profile.plugin_config(name)

    def plugin_state(self, key: StashKey[T], name: str, section: type[S], make: Callable[[S], T]) -> T | None:
        """Plugin ``name``'s per-site object, made by ``make(section)`` the first time it is asked for (a
        lane may report before ``gatecore_site_start``); ``None`` when the profile has no ``[plugins.NAME]``."""
        value = self.stash.get(key, None)
        if value is None:
            cfg = self.plugin_config(name)
            if isinstance(cfg, section):
                value = self.stash.setdefault(key, make(cfg))
        return value

    def _build_lane(self, cfg: LaneConfig) -> Lane:
        info = LaneInfo(self.id, cfg, stash=self.stash, plugin_config=self.plugin_config)
        sink: list[Lane] = []

        def emit(event: DeviceEvent) -> None:
            sink[0].on_event(event)

        for dev_cfg in cfg.devices:
            info.devices[dev_cfg.role] = self._make_device(cfg.id, dev_cfg, emit)
        if not isinstance(info.devices.get(cfg.barrier), Barrier):
            raise SiteError(f"lane {cfg.id}: device {cfg.barrier!r} is not a barrier")
        sources = [self._make_source(info, ev_cfg) for ev_cfg in cfg.evidence]
        lane = Lane(info, sources, self)
        lane.on_crossing = self._counted
        sink.append(lane)
        return lane

    def _make_device(self, lane_id: str, cfg: DeviceConfig, emit: Any) -> Device:
        ctx = DeviceContext(self.id, lane_id, cfg.role, cfg.kind, emit, self.spawn, self.stash,
                            self.plugin_config)
        device = self.pm.hook.gatecore_make_device(config=cfg, ctx=ctx)
        if not isinstance(device, Device):
            raise SiteError(f"lane {lane_id}: no plugin makes a device of kind {cfg.kind!r}")
        return device

    def _make_source(self, info: LaneInfo, cfg: EvidenceConfig) -> tuple[EvidenceSource, float]:
        source = self.pm.hook.gatecore_make_evidence_source(config=cfg, lane=info)
        if not isinstance(source, EvidenceSource) or source.source != cfg.source:
            raise SiteError(f"lane {info.id}: no plugin makes evidence of kind {cfg.kind!r} for {cfg.source!r}")
        return source, cfg.deadline_ms / 1000

    # -- background work -------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``coro`` in the site's TaskGroup; it is cancelled at shutdown. A crash is logged loudly."""
        if self._tg is None:
            self._pending.append((coro, name))
            return
        task = self._tg.create_task(self._guard(coro, name), name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _guard(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one task's crash must not take the site down
            log.error("task_crashed", task=name, error=f"{type(exc).__name__}: {exc}")

    # -- services the lanes use ------------------------------------------------------------------
    async def vote(self, txn: TransactionContext, evidence: Mapping[str, Evidence], timeout: float) -> list[Vote]:
        results, failures = await call_all(self.pm, "gatecore_vote", timeout, txn=txn, evidence=evidence)
        votes: list[Vote] = []
        for result in results:
            votes.extend([result] if isinstance(result, Vote) else result)
        votes += [Vote(f.plugin, Outcome.REFER, f"voter failed: {type(f.error).__name__}") for f in failures]
        return votes

    async def report_decision(self, decision: Decision) -> None:
        await self._report("gatecore_report_decision", decision.stamp.lane_id, decision=decision)

    async def report_fault(self, fault: Fault) -> None:
        await self._report("gatecore_report_fault", fault.stamp.lane_id, fault=fault)

    @property
    def wants_states(self) -> bool:
        """Whether any plugin listens to lane state changes (records are only made then)."""
        return self._want_states

    def report_state(self, change: LaneStateChange) -> None:
        """Called in order on the lane's own step; async implementations are awaited by a site task."""
        if self._want_states:
            _, pending, failures = call_now(self.pm, "gatecore_report_lane_state", site=self, change=change)
            log_failures(failures)
            if pending:
                self._states.put_nowait(pending)

    async def _report(self, hook: str, lane_id: str, **kwargs: Any) -> None:
        _, failures = await call_all(self.pm, hook, self._report_timeout, site=self, **kwargs)
        if failures and hook != "gatecore_report_fault":
            for f in failures:
                await self.report_fault(Fault(Stamp(self.id, lane_id), "report_failed",
                                              f"{f.plugin}.{hook}: {type(f.error).__name__}"))

    async def share_state(self, update: SharedState) -> None:
        """Hand a snapshot or delta of shared state to the transports (``gatecore_share_state``)."""
        await call_all(self.pm, "gatecore_share_state", self._report_timeout, site=self, update=update)

    async def apply_state(self, update: SharedState) -> bool:
        """Apply an update that arrived (``gatecore_apply_state``); False when nobody could apply it."""
        results, _ = await call_all(self.pm, "gatecore_apply_state", self._report_timeout, site=self, update=update)
        applied = bool(results) and all(results)
        log.info("shared_state", name=update.name, kind=update.kind, version=update.version, applied=applied,
                 owners=len(results))
        return applied

    async def _state_reporter(self) -> None:
        while True:
            pending = await self._states.get()
            _, failures = await await_pending("gatecore_report_lane_state", pending, self._report_timeout)
            log_failures(failures)
            self._states.task_done()

    # -- running ---------------------------------------------------------------------------------
    def _counted(self, lane: Lane) -> None:
        self._crossings += 1
        if self._crossings_target is not None and self._crossings >= self._crossings_target:
            self.request_stop()

    def request_stop(self) -> None:
        """Stop taking new crossings and shut down (signal handlers call this)."""
        self._stop.set()

    async def run(self, crossings: int | None = None, duration: float | None = None) -> None:
        """Run until stopped, ``crossings`` completed crossings, or ``duration`` seconds."""
        self._crossings_target = crossings
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                await self._start()
                lanes = [tg.create_task(lane.run(), name=f"lane/{lane.cfg.id}") for lane in self.lanes.values()]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), duration)
                await self._shutdown(lanes)
        finally:
            self._tg = None
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)

    async def _start_device(self, lane_id: str, device: Device) -> None:
        """Start one device; one that cannot start leaves its lane degraded, not the site down."""
        try:
            await asyncio.wait_for(device.start(), self.profile.run.shutdown_timeout_s)
        except (TimeoutError, DeviceError, OSError) as exc:
            log.error("device_start_failed", lane=lane_id, device=device.role, error=f"{type(exc).__name__}: {exc}")
            device.set_online(False, f"start failed: {type(exc).__name__}")

    async def _start(self) -> None:
        await asyncio.gather(*(self._start_device(lane.cfg.id, device) for lane in self.lanes.values()
                               for device in lane.info.devices.values()))
        if self._want_states:
            self.spawn(self._state_reporter(), "site/state-reporter")
        await call_all(self.pm, "gatecore_site_start", self.profile.run.shutdown_timeout_s, site=self)
        for coro, name in self._pending:
            self.spawn(coro, name)
        self._pending.clear()
        gc.freeze()  # what start-up built lives for the whole run: keep it out of every collection
        log.info("site_started", site=self.id, lanes=list(self.lanes))

    async def _shutdown(self, lanes: list[asyncio.Task[None]]) -> None:
        budget = self.profile.run.shutdown_timeout_s
        deadline = time.monotonic() + budget
        log.info("site_stopping", site=self.id)
        for lane in self.lanes.values():
            lane.stop()
        _, late = await asyncio.wait(lanes, timeout=budget / 2)
        for task in late:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._states.join(), max(0.01, deadline - time.monotonic()))
        await call_all(self.pm, "gatecore_site_stop", max(0.01, deadline - time.monotonic()), site=self)
        for lane in self.lanes.values():
            for device in lane.info.devices.values():
                try:
                    await asyncio.wait_for(device.stop(), max(0.01, deadline - time.monotonic()))
                except Exception as exc:  # noqa: BLE001 - keep stopping the others, loudly
                    log.error("device_stop_failed", lane=lane.cfg.id, device=device.role, error=repr(exc))
        for task in list(self._background):
            task.cancel()
        log.info("site_stopped", site=self.id, seconds=round(time.monotonic() - (deadline - budget), 3))

    # -- figures ---------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        decisions = {o.value: 0 for o in Outcome}
        latencies: list[float] = []
        faults = crossings = 0
        for lane in self.lanes.values():
            crossings += lane.stats.crossings
            faults += lane.stats.faults
            latencies += lane.stats.decision_ms
            for outcome, n in lane.stats.decisions.items():
                decisions[outcome] += n
        return {
            "site": self.id,
            "crossings": crossings,
            "decisions": decisions,
            "faults": faults,
            "p50_ms": round(percentile(latencies, 50), 3),
            "p99_ms": round(percentile(latencies, 99), 3),
            "seconds": round(time.monotonic() - self.started, 3),
        }


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1] if pct < 100 else max(values)
