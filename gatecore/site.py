"""The site: every lane of a profile, its devices and plugins, in one process under one TaskGroup.

Each lane runs under a supervisor: a lane task that dies is reported and restarted with backoff. Plugin
code of any kind fails without stopping the site (:mod:`gatecore.hooks`, :mod:`gatecore.lane`); the site
ends only when asked to stop, or on an error of the core itself, and it says which.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import statistics
import time
from collections.abc import Coroutine, Mapping
from types import MappingProxyType
from typing import Any

import pluggy
import structlog

from gatecore.checks import checked_votes
from gatecore.config import ConfigModel, DeviceConfig, EvidenceConfig, LaneConfig
from gatecore.devices import Barrier, Device, DeviceContext, DeviceEvent
from gatecore.evidence import EvidenceSource, Source, TransactionContext
from gatecore.hooks import HookFailure, Hooks, close, log_failures
from gatecore.lane import Lane
from gatecore.lane_parts import LaneFault
from gatecore.notify import abandon, abandoned, bounded, launch, plugin_error, settle
from gatecore.privacy import DROPPED, DROPS, SafeText, error_text, is_code
from gatecore.profile import Profile
from gatecore.stash import Stash
from gatecore.types import (
    Decision,
    Evidence,
    Fault,
    LaneStateChange,
    OfficerEvent,
    Outcome,
    PartnerMessage,
    SharedState,
    Stamp,
    Vote,
)
from gatecore.views import LaneInfo, LaneView

__all__ = ["Site", "SiteError"]

log = structlog.get_logger("gatecore.site")


class SiteError(Exception):
    """The site cannot be assembled (a kind no plugin makes, a device of the wrong model)."""


class _FactoryFailed(SiteError):
    """A plugin's factory raised: its lane cannot be built, the others can. The message is the core's own
    (the lane, the kind, :meth:`HookFailure.describe`)."""


class Site:
    """Assembles lanes from a profile and runs them. Plugins see it as a :class:`gatecore.api.SiteView`."""

    def __init__(self, profile: Profile, pm: pluggy.PluginManager) -> None:
        self.profile = profile
        self.pm = pm
        self.hooks = Hooks(pm, profile.run.hook_budget_ms / 1000)
        self.id = profile.site.id
        self.stash = Stash()
        self.started = time.monotonic()
        self.stop_reason = SafeText("")
        self._lanes: dict[str, Lane] = {}
        self.lanes: Mapping[str, LaneView] = MappingProxyType({})
        self._tg: asyncio.TaskGroup | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._pending: list[tuple[Coroutine[Any, Any, Any], str]] = []
        self._stop = asyncio.Event()
        self._states: asyncio.Queue[list[tuple[str, Any]]] = asyncio.Queue()
        #: whether any plugin listens to lane state changes (records are only made then)
        self.wants_states = bool(self.hooks.callers("gatecore_report_lane_state"))
        self._report_timeout = profile.run.report_timeout_ms / 1000
        self._crossings_target: int | None = None
        self._crossings = 0
        _, pending, failures = self.hooks.call_now("gatecore_site_setup", building=True, site=self)
        for plugin, awaitable in pending:
            failures.append(HookFailure(plugin, "gatecore_site_setup", TypeError("must not be async")))
            close(awaitable)
        log_failures(failures)
        #: lanes that could not be built because a plugin's factory failed, with why
        self.broken: dict[str, str] = {}
        for lane_cfg in profile.lanes:
            try:
                self._lanes[lane_cfg.id] = self._build_lane(lane_cfg)
            except _FactoryFailed as exc:
                log.error("lane_not_built", lane=lane_cfg.id, error=SafeText(exc))
                self.broken[lane_cfg.id] = SafeText(exc)
        self.lanes = MappingProxyType({lane_id: lane.view for lane_id, lane in self._lanes.items()})

    # -- assembly ------------------------------------------------------------------------------
    def plugin_config(self, name: str) -> ConfigModel | None:
        return self.profile.plugin_config(name)

    def lane(self, lane_id: str) -> Lane:
        """The lane itself (for the core and its tests; plugins see ``lanes``)."""
        return self._lanes[lane_id]

    # -- officers (see SiteView) -----------------------------------------------------------------
    def resolve(self, lane_id: str, txn_id: str, outcome: Outcome, officer: str, reason: str) -> str | None:
        lane = self._lanes.get(lane_id) if isinstance(lane_id, str) else None
        return "no such lane" if lane is None else lane.resolve(txn_id, outcome, officer, reason)

    def set_manual(self, lane_id: str, manual: bool, officer: str, reason: str) -> str | None:
        lane = self._lanes.get(lane_id) if isinstance(lane_id, str) else None
        return "no such lane" if lane is None else lane.set_manual(bool(manual), officer, reason)

    async def report_officer_event(self, event: OfficerEvent) -> str | None:
        problem = event.problem() if isinstance(event, OfficerEvent) else "not an OfficerEvent"
        if problem is None:
            await self.hooks.call("gatecore_report_officer_event", self._report_timeout, site=self, event=event)
        return problem

    def _build_lane(self, cfg: LaneConfig) -> Lane:
        devices: dict[str, Device] = {}
        makers: dict[str, str] = {}
        sink: list[Lane] = []

        def emit(event: DeviceEvent) -> None:
            sink[0].on_event(event)

        for dev_cfg in cfg.devices:
            ctx = DeviceContext(self, cfg.id, dev_cfg.role, dev_cfg.kind, emit)
            makers[dev_cfg.role], devices[dev_cfg.role] = self._make(
                "gatecore_make_device", Device, cfg.id, dev_cfg, config=dev_cfg, ctx=ctx)
        if not isinstance(devices.get(cfg.barrier), Barrier):
            raise SiteError(f"lane {cfg.id}: device {cfg.barrier!r} is not a barrier")
        info = LaneInfo(self, cfg, MappingProxyType(devices))
        sources = []
        for ev_cfg in cfg.evidence:
            plugin, source = self._make("gatecore_make_evidence_source", EvidenceSource, cfg.id, ev_cfg,
                                        config=ev_cfg, lane=info)
            if source.source != ev_cfg.source:
                raise SiteError(f"lane {cfg.id}: plugin {plugin} made a source of another name for {ev_cfg.source!r}")
            sources.append(Source(source, ev_cfg.deadline_ms / 1000, plugin, ev_cfg.kind, type(ev_cfg).reports))
        lane = Lane(info, sources, self, makers, self.hooks.budget_s)
        lane.on_crossing = self._counted
        sink.append(lane)
        return lane

    def _make(self, hook: str, model: type[Any], lane_id: str, cfg: DeviceConfig | EvidenceConfig,
              **kwargs: Any) -> tuple[str, Any]:
        """The first plugin's answer to a factory hook, checked; a factory's failure names its plugin."""
        results, pending, failures = self.hooks.call_now(hook, first=True, building=True, **kwargs)
        what = f"lane {lane_id}: {cfg.kind!r}"
        if failures:
            raise _FactoryFailed(f"{what}: {failures[0].describe()}")
        if pending:
            close(pending[0][1])
            raise SiteError(f"{what}: plugin {pending[0][0]}.{hook} must not be async")
        if not results:
            raise SiteError(f"{what}: no plugin makes this kind")
        plugin, made = results[0]
        if not isinstance(made, model):
            raise SiteError(f"{what}: plugin {plugin} made a {type(made).__name__}, not a {model.__name__}")
        return plugin, made

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
        """Run a plugin's coroutine in a task of its own, so that one which swallows its cancellation is
        left behind at shutdown instead of holding up the site's TaskGroup."""
        try:
            task = launch(coro, name)
            try:
                await asyncio.wait((task,))
            finally:
                abandon((task,))
            task.result()
        except BaseException as exc:  # noqa: BLE001 - plugin_error raises our own cancellation again
            error = plugin_error(exc)
            log.error("task_crashed", task=name, error=error_text(error))

    # -- services the lanes use ------------------------------------------------------------------
    async def vote(self, txn: TransactionContext, evidence: Mapping[str, Evidence], timeout: float) -> list[Vote]:
        results, failures = await self.hooks.call("gatecore_vote", timeout, site=self, txn=txn, evidence=evidence)
        votes: list[Vote] = []
        for plugin, result in results:
            try:
                votes += checked_votes(result, plugin)
            except ValueError as exc:
                failures.append(HookFailure(plugin, "gatecore_vote", exc))
        if failures:
            f = failures[0]
            raise LaneFault("plugin_failed", f"voter {f.describe()}", plugin=f.plugin)
        return votes

    async def report_decision(self, decision: Decision) -> None:
        """Every decision reporter must have recorded the decision: one that failed stops it being acted on."""
        _, failures = await self.hooks.call("gatecore_report_decision", self._report_timeout, site=self,
                                            decision=decision)
        if failures:
            f = failures[0]
            raise LaneFault("report_failed", f"decision not recorded, not acted on: {f.describe()}", plugin=f.plugin)

    async def report_fault(self, fault: Fault) -> None:
        await self.hooks.call("gatecore_report_fault", self._report_timeout, site=self, fault=fault)

    def report_state(self, change: LaneStateChange) -> None:
        """Called in order on the lane's own step; async implementations are awaited by a site task."""
        _, pending, failures = self.hooks.call_now("gatecore_report_lane_state", site=self, change=change)
        log_failures(failures)
        if pending:
            self._states.put_nowait(pending)

    # -- what plugins ask of the site (documented in SiteView) -----------------------------------
    async def share_state(self, update: SharedState) -> None:
        await self.hooks.call("gatecore_share_state", self._report_timeout, site=self, update=update)

    async def apply_state(self, update: SharedState) -> bool:
        results, _ = await self.hooks.call("gatecore_apply_state", self._report_timeout, site=self, update=update)
        applied = bool(results) and all(result is True for _, result in results)
        log.info("shared_state", shared=update.name, kind=update.kind, version=update.version, applied=applied,
                 owners=len(results))
        return applied

    async def plugin_fault(self, lane_id: str, plugin: str, code: str, txn_id: str | None = None) -> None:
        if lane_id not in self._lanes:
            raise ValueError(f"no lane {lane_id!r} in site {self.id}")
        what = code if isinstance(code, str) and is_code(code) else DROPPED
        if what == DROPPED:
            DROPS.add(f"fault.code/{plugin}")
        fault = Fault(Stamp(self.id, lane_id), "plugin_reported", SafeText(f"{plugin} reported {what}"),
                      txn_id=txn_id, plugin=plugin)
        log.warning("plugin_fault", lane=lane_id, plugin=plugin, reason=SafeText(what), txn=txn_id)
        await self.report_fault(fault)

    async def send_to_partner(self, message: PartnerMessage) -> bool:
        results, _ = await self.hooks.call("gatecore_partner_send", self._report_timeout, site=self, message=message)
        taken = [plugin for plugin, result in results if result is True]
        log.info("partner_message_out", kind=message.kind, plugin=taken, applied=bool(taken))
        return bool(taken)

    async def partner_received(self, message: PartnerMessage) -> bool:
        results, _ = await self.hooks.call("gatecore_partner_receive", self._report_timeout, site=self,
                                           message=message)
        handled = bool(results) and all(result is True for _, result in results)
        log.info("partner_message_in", kind=message.kind, applied=handled, owners=len(results))
        return handled

    async def _state_reporter(self) -> None:
        while True:
            pending = await self._states.get()
            _, failures = await self.hooks.settle("gatecore_report_lane_state", pending, self._report_timeout)
            log_failures(failures)
            self._states.task_done()

    # -- running ---------------------------------------------------------------------------------
    def _counted(self, lane: Lane) -> None:
        self._crossings += 1
        if self._crossings_target is not None and self._crossings >= self._crossings_target:
            self.request_stop(f"{self._crossings} crossings")

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop taking new crossings and shut down (signal handlers call this)."""
        if not self._stop.is_set():
            self.stop_reason = SafeText(reason)
        self._stop.set()

    async def run(self, crossings: int | None = None, duration: float | None = None) -> None:
        """Run until stopped, ``crossings`` completed crossings, or ``duration`` seconds."""
        self._crossings_target = crossings
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop, signal.Signals(sig).name)
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                await self._start()
                lanes = [tg.create_task(self._supervise(lane), name=f"lane/{lane.cfg.id}")
                         for lane in self._lanes.values()]
                try:
                    await asyncio.wait_for(self._stop.wait(), duration)
                except TimeoutError:
                    self.stop_reason = SafeText(f"{duration:g} s elapsed")
                await self._shutdown(lanes)
        except asyncio.CancelledError:
            self.stop_reason = self.stop_reason or SafeText("cancelled")
            raise
        except BaseException as exc:
            self.stop_reason = SafeText(f"core error: {error_text(exc)}")
            log.critical("site_failed", site=self.id, error=self.stop_reason)
            raise
        finally:
            self._tg = None
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)

    async def _supervise(self, lane: Lane) -> None:
        """Run a lane; one whose task dies is reported and restarted with backoff (0.1 s doubling to 30 s)."""
        delay = 0.1
        while not self._stop.is_set():
            try:
                await lane.run()
                return
            except BaseException as exc:  # noqa: BLE001 - plugin_error raises our own cancellation again
                error = plugin_error(exc)
                log.error("lane_crashed", lane=lane.cfg.id, error=error_text(error), restart_in_s=delay)
                lane.stats.faults += 1
                await self.report_fault(Fault(Stamp(self.id, lane.cfg.id), "lane_crashed", error_text(error)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            delay = min(delay * 2, 30.0)

    async def _start_device(self, lane: Lane, device: Device) -> None:
        """Start one device; one that cannot start leaves its lane degraded, not the site down."""
        error = await self._device_call(lane, device, "start", self.profile.run.shutdown_timeout_s)
        if error is not None:
            with contextlib.suppress(Exception):
                device.set_online(False, f"start failed: {type(error).__name__}")

    async def _device_call(self, lane: Lane, device: Device, step: str, timeout: float) -> BaseException | None:
        """``device.start()`` or ``device.stop()`` within ``timeout``: its failure is logged and returned."""
        try:
            await bounded(getattr(device, step)(), timeout, f"{lane.cfg.id}/{device.role}/{step}")
        except BaseException as exc:  # noqa: BLE001 - plugin_error raises our own cancellation again
            error = plugin_error(exc)
            log.error("device_start_failed" if step == "start" else "device_stop_failed", lane=lane.cfg.id,
                      device=device.role, plugin=lane.makers.get(device.role), error=error_text(error))
            return error
        return None

    async def _start(self) -> None:
        await asyncio.gather(*(self._start_device(lane, device) for lane in self._lanes.values()
                               for device in lane.info.devices.values()))
        if self.wants_states:
            self.spawn(self._state_reporter(), "site/state-reporter")
        for lane_id, why in self.broken.items():
            await self.report_fault(Fault(Stamp(self.id, lane_id), "lane_not_built", why))
        await self.hooks.call("gatecore_site_start", self.profile.run.shutdown_timeout_s, site=self)
        for coro, name in self._pending:
            self.spawn(coro, name)
        self._pending.clear()
        gc.freeze()  # what start-up built lives for the whole run: keep it out of every collection
        log.info("site_started", site=self.id, lanes=list(self._lanes))

    async def _shutdown(self, lanes: list[asyncio.Task[None]]) -> None:
        budget = self.profile.run.shutdown_timeout_s
        deadline = time.monotonic() + budget
        log.info("site_stopping", site=self.id, reason=self.stop_reason)
        for lane in self._lanes.values():
            lane.stop()
        await settle(lanes, budget / 2)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._states.join(), max(0.01, deadline - time.monotonic()))
        await self.hooks.call("gatecore_site_stop", max(0.01, deadline - time.monotonic()), site=self)
        for lane in self._lanes.values():
            for device in lane.info.devices.values():
                await self._device_call(lane, device, "stop", max(0.01, deadline - time.monotonic()))
        for task in self._background:
            task.cancel()
        if left := self._background | abandoned:
            await asyncio.wait(left, timeout=max(0.01, deadline - time.monotonic()))
        if abandoned:
            log.error("plugin_tasks_stuck", tasks=sorted(task.get_name() for task in abandoned))
        log.info("site_stopped", site=self.id, reason=self.stop_reason,
                 seconds=round(time.monotonic() - (deadline - budget), 3), privacy_dropped=DROPS.counts())

    # -- figures ---------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """What the run did. ``decisions`` counts every decision made (by outcome), ``crossings`` only
        those whose lane was clear again before the run ended, ``faults`` the times a lane degraded."""
        decisions = {o.value: 0 for o in Outcome}
        latencies: list[float] = []
        faults = crossings = 0
        for lane in self._lanes.values():
            crossings += lane.stats.crossings
            faults += lane.stats.faults
            latencies += lane.stats.decision_ms
            for outcome, n in lane.stats.decisions.items():
                decisions[outcome] += n
        summary: dict[str, Any] = {
            "site": self.id,
            "stopped": self.stop_reason,
            "decisions": decisions,
            "crossings_completed": crossings,
            "faults": faults,
            "lanes_not_built": sorted(self.broken),
            "decision_p50_ms": round(percentile(latencies, 50), 3),
            "decision_p99_ms": round(percentile(latencies, 99), 3),
            "seconds": round(time.monotonic() - self.started, 3),
        }
        self._plugin_summaries(summary)
        return summary

    def _plugin_summaries(self, summary: dict[str, Any]) -> None:
        """Add each plugin's part (``gatecore_summary``); a key already given is left out and logged."""
        # the site has stopped (no lane to hold up): no hook budget
        results, pending, failures = self.hooks.call_now("gatecore_summary", building=True, site=self)
        for plugin, awaitable in pending:
            failures.append(HookFailure(plugin, "gatecore_summary", TypeError("must not be async")))
            close(awaitable)
        log_failures(failures)
        for plugin, part in results:
            if not isinstance(part, Mapping):
                log.error("summary_not_a_map", plugin=plugin)
                continue
            for key, value in part.items():
                if key in summary:
                    log.error("summary_key_taken", plugin=plugin, key=str(key))
                else:
                    summary[str(key)] = value


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1] if pct < 100 else max(values)
