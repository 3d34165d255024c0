"""The lane: one crossing at a time, as an explicit state machine that fails safe.

``idle -> collecting -> deciding -> actuating -> clearing -> idle``, plus ``degraded`` (barrier commanded
closed, refer to an officer, recovering by itself) and ``manual`` (an officer has the lane). With
``policy.officer_timeout_ms``, a refer waits in ``referred`` for an officer's pass or deny
(:meth:`Lane.resolve`), which becomes the crossing's decision, recorded like any other before it is acted on.

Safety invariant: the barrier is commanded open only from :meth:`Lane._open_barrier`, which requires
the lane to be actuating the transaction in progress with a PASS decision for that very transaction,
recorded by every decision reporter, and no fault pending.

Plugin code (device commands, evidence sources, voters, reporters) can fail in any way: raise, return
the wrong thing, hang, swallow its cancellation. Each is a :class:`LaneFault` naming the plugin: the
lane goes degraded (barrier commanded closed, refer to officer) and recovers by itself.

Every text the lane puts in a record or a log line is its own, composed from ids, codes, type names and
numbers (:class:`gatecore.privacy.SafeText`): an exception's message or a device's offline reason never
is (:func:`gatecore.privacy.error_text`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

import structlog

from gatecore.devices import (
    Aspect,
    Barrier,
    BarrierPosition,
    Device,
    DeviceError,
    DeviceEvent,
    DeviceOffline,
    DeviceOnline,
    Display,
    Lights,
    Presence,
    PresenceChanged,
    Scanned,
)
from gatecore.evidence import Source, SourceFailed, TransactionContext, gather
from gatecore.lane_parts import LaneFault, LaneStats, ReadOnlyLane
from gatecore.notify import Notifier, bounded, plugin_error
from gatecore.policy import combine
from gatecore.privacy import SafeText, error_text
from gatecore.types import (
    Decision,
    Evidence,
    Fault,
    LaneState,
    LaneStateChange,
    Outcome,
    Stamp,
    new_id,
    officer_problem,
    recordable_vote,
)
from gatecore.views import LaneInfo

if TYPE_CHECKING:
    from gatecore.site import Site

log = structlog.get_logger("gatecore.lane")

Command = Callable[[], Coroutine[Any, Any, None]]


class Lane:
    def __init__(self, info: LaneInfo, sources: Sequence[Source], services: Site,
                 makers: Mapping[str, str] | None = None, budget_s: float = 0.1) -> None:
        """``makers`` names the plugin that made each device, by role (for the faults it causes);
        ``budget_s`` is how long one step of a source may keep the event loop busy."""
        self.budget_s = budget_s
        self.info = info
        self.cfg = info.config
        self.policy = info.config.policy
        self.sources = tuple(sources)
        self.makers = dict(makers or {})
        self.services = services
        self.state = LaneState.STOPPED  # until the barrier confirms closed at start
        self.stats = LaneStats()
        self.view = ReadOnlyLane(self)
        self.txn: TransactionContext | None = None
        self.decision: Decision | None = None
        self.on_crossing: Callable[[Lane], None] | None = None
        self._events = Notifier()
        self._until: Callable[[], bool] | None = None
        self._offline: dict[str, None] = {}  # roles of the devices offline, in the order they went
        self._faults: list[LaneFault] = []
        self._scans: list[Scanned] = []
        self._exit_seen = False
        self._trigger_event: PresenceChanged | None = None
        self._manual = False
        self._stopping = False
        self._officer: tuple[str, str] | None = None  # who asked for the manual change not yet made, and why
        #: the REFER decision waiting for an officer (state ``referred``), and the officer's answer to it
        self.referral: Decision | None = None
        self._resolution: tuple[Outcome, str, str] | None = None
        self._log = log.bind(lane=self.cfg.id)
        #: what each source's kind may report outside the controller, by source name
        self.declared = MappingProxyType({src.name: src.reports for src in self.sources})
        # the lane's devices by what they do, resolved once (a lane's devices never change; the site
        # checked that the barrier is one)
        devices = info.devices
        self.barrier = cast(Barrier, devices[self.cfg.barrier])
        lights, display = devices.get(self.cfg.lights or ""), devices.get(self.cfg.display or "")
        self._lights = lights if isinstance(lights, Lights) else None
        self._display = display if isinstance(display, Display) else None
        self._presence = {role: dev for role, dev in devices.items() if isinstance(dev, Presence)}
        self._exit_role = self.cfg.exit if self.cfg.exit in devices else None

    # -- devices -----------------------------------------------------------------------------
    def _occupied(self, role: str | None) -> bool:
        dev = self._presence.get(role) if role else None
        return dev is not None and dev.occupied

    def on_event(self, event: DeviceEvent) -> None:
        """The sink every device of this lane reports to (synchronous, on the loop thread)."""
        if not isinstance(event, DeviceEvent) or event.role not in self.info.devices:
            self._log.error("device_event_refused", what=SafeText(type(event).__name__))
            return
        if isinstance(event, DeviceOffline):
            self._offline[event.role] = None
            self._faults.append(self._offline_fault(event.role))
        elif isinstance(event, DeviceOnline):
            self._offline.pop(event.role, None)
        elif isinstance(event, Scanned) and event.role == self.cfg.trigger and self.state is LaneState.IDLE:
            self._scans.append(event)
        elif isinstance(event, PresenceChanged):
            if event.occupied and event.role == self.cfg.exit:
                self._exit_seen = True
            if event.role == self.cfg.trigger:
                self._trigger_event = event
        until = self._until
        if until is None or self._faults or self._offline or until():
            self._events.notify()

    async def _changed(self, timeout: float, until: Callable[[], bool] | None = None) -> None:
        """Wait for the next device event, at most ``timeout`` seconds. With ``until``, only an event
        after which ``until()`` holds (or a fault, a stop, manual mode) ends the wait early: the lane is
        not woken for events that cannot end it (the exit loop occupied while waiting for both clear)."""
        self._until = until
        try:
            await self._events.wait(timeout)
        finally:
            self._until = None

    async def _wait_until(self, ready: Callable[[], bool], timeout: float, *, what: str) -> None:
        """Wait for ``ready()``; a fault or the deadline raises :class:`LaneFault`."""
        deadline = time.monotonic() + timeout
        while True:
            self._raise_pending_fault()
            if ready():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise LaneFault("timeout", f"no {what} within {timeout:g}s")
            await self._changed(left, ready)

    def _raise_pending_fault(self) -> None:
        if self._stopping or self._manual:
            raise LaneFault("interrupted", "lane stopping" if self._stopping else "manual mode")
        if self._faults:
            raise self._faults.pop(0)
        if self._offline:
            raise self._offline_fault(next(iter(self._offline)))

    def _offline_fault(self, role: str) -> LaneFault:
        """A device went offline: its role and the plugin that made it, never its offline reason (free text)."""
        return LaneFault("device_offline", f"{role}: offline", role, self.makers.get(role))

    # -- state -------------------------------------------------------------------------------
    def _stamp(self) -> Stamp:
        return Stamp(self.info.site_id, self.cfg.id)

    def _set_state(self, new: LaneState, reason: str = "") -> None:
        """``reason`` is the lane's own words (it goes into the state record). Into or out of ``manual``,
        the record names the officer who asked for it, and their reason."""
        old, self.state = self.state, new
        officer = None
        if old is not new and LaneState.MANUAL in (old, new) and self._officer is not None:
            (officer, why), self._officer = self._officer, None
            reason = f"officer: {why}"
        if old is not new and self.services.wants_states:
            txn = self.txn.txn_id if self.txn else None
            self.services.report_state(LaneStateChange(self._stamp(), old, new, SafeText(reason), txn, officer))

    def stop(self) -> None:
        self._stopping = True
        self._events.notify()

    # -- officers ----------------------------------------------------------------------------
    def resolve(self, txn_id: str, outcome: Outcome, officer: str, reason: str) -> str | None:
        """An officer resolves the referral of ``txn_id`` with PASS or DENY (``reason`` a code). ``None``
        when the lane took it (it records the decision, then acts on it), else why it was refused: no such
        referral waiting on this lane (ended, timed out, another lane's), resolved already, a bad argument."""
        problem = officer_problem(officer, reason)
        if problem is None and not (isinstance(outcome, Outcome) and outcome is not Outcome.REFER):
            problem = "an officer resolves a referral with pass or deny"
        referral = self.referral
        if problem is None and (referral is None or referral.txn_id != txn_id or self.state is not LaneState.REFERRED):
            problem = "no referral of this transaction is waiting on this lane"
        if problem is None and self._resolution is not None:
            problem = "this referral is resolved already"
        self._log.info("officer_action", kind="resolve", outcome=getattr(outcome, "value", None),
                       txn=referral.txn_id if referral is not None and referral.txn_id == txn_id else None,
                       reason=reason if problem is None else None, refused=problem is not None)
        if problem is None:
            self._resolution = (outcome, officer, reason)
            self._events.notify()
        return problem

    def set_manual(self, manual: bool, officer: str, reason: str) -> str | None:
        """An officer takes the lane (the transaction in progress is abandoned, nothing is commanded) or
        gives it back (it recovers, barrier closed, then idle). ``None`` when done, else why refused."""
        problem = officer_problem(officer, reason)
        if problem is None and self._manual is manual:
            problem = f"the lane is {'in' if manual else 'not in'} manual mode already"
        self._log.info("officer_action", kind="manual" if manual else "automatic",
                       reason=reason if problem is None else None, refused=problem is not None)
        if problem is None:
            self._manual, self._officer = manual, (officer, reason)
            self._events.notify()
        return problem

    # -- the main loop -----------------------------------------------------------------------
    async def run(self) -> None:
        self._log.info("lane_start", sources=[s.name for s in self.sources])
        await self._recover()
        try:
            while not self._stopping:
                await self._step()
        finally:
            await self._close_safely("lane stopping")
            self._set_state(LaneState.STOPPED, "shutdown")

    async def _step(self) -> None:
        if self._manual:
            self._set_state(LaneState.MANUAL, "manual mode")
            await self._changed(1.0)
            if not self._manual:
                await self._recover()
        elif self.state is LaneState.DEGRADED:
            await self._changed(self.policy.recover_every_ms / 1000)
            await self._recover()
        else:
            trigger = await self._next_trigger()
            if trigger is not None:
                await self._transaction(trigger)

    async def _next_trigger(self) -> DeviceEvent | None:
        if self._faults or self._offline:
            await self._degrade(self._faults.pop(0) if self._faults else
                                self._offline_fault(next(iter(self._offline))))
            return None
        if self._scans:
            return self._scans.pop(0)
        if self._occupied(self.cfg.trigger):
            last = self._trigger_event
            # the sensor's own report, so latency counts from when it saw the arrival
            return last if last is not None and last.occupied else PresenceChanged(self.cfg.trigger, occupied=True)
        await self._changed(1.0)
        return None

    async def _transaction(self, trigger: DeviceEvent) -> None:
        self._trigger_event = None  # one report starts at most one transaction
        txn = TransactionContext(new_id(), self.info.site_id, self.cfg.id, trigger, self.info.devices, trigger.t_mono)
        self.txn, self.decision, self._exit_seen = txn, None, False
        try:
            decision = await self._decide(txn)
            if decision.outcome is Outcome.REFER and self.policy.officer_timeout_ms:
                decision = await self._await_officer(txn, decision)
            try:
                await self._actuate(txn, decision)
            finally:  # logged once acted on: the log line is not on the way to the barrier
                self._log.info("decision", txn=txn.txn_id, outcome=decision.outcome.value,
                               reasons=list(decision.reasons), latency_ms=round(decision.latency_ms, 2))
            await self._clear(decision)
            self.stats.crossings += 1
            self._set_state(LaneState.IDLE, "lane clear")
            if self.on_crossing:
                self.on_crossing(self)
        except LaneFault as fault:
            if self._stopping or self._manual:
                self._log.info("txn_abandoned", txn=txn.txn_id, why="stopping" if self._stopping else "manual")
            else:
                await self._degrade(fault, txn.txn_id)
        except Exception as exc:  # noqa: BLE001 - plugin code reached through a device or a record
            await self._degrade(LaneFault("lane_error", error_text(exc)), txn.txn_id)
        finally:
            txn.cancel_waits()
            self.txn = self.decision = None
            self._log.debug("txn_end", txn=txn.txn_id)

    # -- collecting and deciding -------------------------------------------------------------
    async def _decide(self, txn: TransactionContext) -> Decision:
        self._set_state(LaneState.COLLECTING, type(txn.trigger).__name__)
        evidence = await self._collect(txn)
        self._set_state(LaneState.DECIDING)
        left = max(0.001, self.policy.deadline_ms / 1000 - (time.monotonic() - txn.started))
        votes = [recordable_vote(v, self.declared)
                 for v in await self.services.vote(txn, MappingProxyType(evidence), left)]
        verdict = combine(self.policy, [s.name for s in self.sources], evidence, votes, list(self._offline))
        decision = Decision(self._stamp(), txn.txn_id, verdict.outcome, verdict.reasons, tuple(votes),
                            evidence, verdict.missing, (time.monotonic() - txn.started) * 1000, self.declared)
        self.stats.decision_ms.append(decision.latency_ms)
        return await self._record(decision)

    async def _record(self, decision: Decision) -> Decision:
        """``decision`` is the crossing's, counted and recorded by every decision reporter."""
        self.decision = decision
        self.stats.decisions[decision.outcome.value] += 1
        await self.services.report_decision(decision)
        return decision

    async def _await_officer(self, txn: TransactionContext, referral: Decision) -> Decision:
        """Wait (at most ``officer_timeout_ms``) for an officer to resolve the referral: their PASS or DENY
        becomes the decision, recorded by every reporter before the lane acts on it. Without an answer in
        time, or once the crossing's trigger sensor is clear again (the traveller left), the refer stands."""
        self.referral, self._resolution = referral, None
        self._set_state(LaneState.REFERRED, "waiting for an officer")
        try:
            await self._signal(Aspect.RED, "refer to officer")
            trigger = self.cfg.trigger if self.cfg.trigger in self._presence else None

            def answered() -> bool:
                return self._resolution is not None or (trigger is not None and not self._occupied(trigger))

            deadline = time.monotonic() + self.policy.officer_timeout_ms / 1000
            while not answered() and (left := deadline - time.monotonic()) > 0:
                self._raise_pending_fault()
                await self._changed(left, answered)
            self._raise_pending_fault()
            if self._resolution is None:
                return referral
            outcome, officer, reason = self._resolution
            return await self._record(Decision(
                self._stamp(), txn.txn_id, outcome, (SafeText(f"officer: {reason}"),), referral.votes,
                referral.evidence, referral.missing, (time.monotonic() - txn.started) * 1000, self.declared, officer))
        finally:
            self.referral = None

    async def _collect(self, txn: TransactionContext) -> dict[str, Evidence]:
        try:
            return await gather(self.sources, txn, self.policy.deadline_ms / 1000, self.budget_s, self._log)
        except SourceFailed as failed:
            raise LaneFault("plugin_failed", str(failed), plugin=failed.plugin) from failed.__cause__

    # -- actuating and clearing --------------------------------------------------------------
    async def _actuate(self, txn: TransactionContext, decision: Decision) -> None:
        self._set_state(LaneState.ACTUATING, decision.outcome.value)
        if decision.outcome is Outcome.PASS:
            await self._open_barrier(txn, decision)
            await self._signal(Aspect.GREEN, "proceed")
            await self._wait_until(lambda: self.barrier.position is BarrierPosition.OPEN,
                                   self.policy.confirm_timeout_ms / 1000, what="barrier open confirmation")
        else:
            self.stats.command_ms.append((time.monotonic() - txn.started) * 1000)
            await self._signal(Aspect.RED, "refer to officer" if decision.outcome is Outcome.REFER else "denied")

    async def _open_barrier(self, txn: TransactionContext, decision: Decision) -> None:
        """The only place that opens a barrier."""
        self._raise_pending_fault()
        if not (self.state is LaneState.ACTUATING and self.txn is txn and self.decision is decision
                and decision.txn_id == txn.txn_id and decision.outcome is Outcome.PASS):
            raise LaneFault("safety", "open refused: no PASS for the transaction in progress")
        self.stats.command_ms.append((time.monotonic() - txn.started) * 1000)
        await self._command(self.barrier, self.barrier.open, "barrier open")

    async def _command(self, device: Device, command: Command, what: str) -> None:
        """Run one device command under the confirmation deadline; any failure is a :class:`LaneFault`."""
        try:
            await bounded(command(), self.policy.confirm_timeout_ms / 1000, f"{self.cfg.id}/{device.role}/{what}")
        except TimeoutError:
            raise LaneFault("command_timeout", f"{what}: no answer", device.role, self.makers.get(device.role)) \
                from None
        except DeviceError as exc:
            raise LaneFault("command_failed", f"{what}: {error_text(exc)}", device.role,
                            self.makers.get(device.role)) from exc
        except BaseException as exc:
            error = plugin_error(exc)
            plugin = self.makers.get(device.role, "?")
            raise LaneFault("plugin_failed", f"{plugin}: {what}: {error_text(error)}", device.role, plugin) from exc

    async def _signal(self, aspect: Aspect, text: str) -> None:
        lights, display = self._lights, self._display
        if lights is not None:
            await self._command(lights, lambda: lights.show(aspect), "lights")
        if display is not None:
            await self._command(display, lambda: display.show_text(text), "display")

    async def _clear(self, decision: Decision) -> None:
        self._set_state(LaneState.CLEARING)
        if decision.outcome is Outcome.PASS:
            exit_role = self._exit_role
            await self._wait_until(
                lambda: (exit_role is None or self._exit_seen)
                and not self._occupied(self.cfg.trigger) and not self._occupied(exit_role),
                self.policy.clear_timeout_ms / 1000, what="crossing")
            await self._close_barrier()
        else:
            hold_until = time.monotonic() + self.policy.refer_hold_ms / 1000

            def left() -> bool:
                return not self._occupied(self.cfg.trigger) and not self._occupied(self.cfg.exit)

            while True:
                self._raise_pending_fault()
                hold = hold_until - time.monotonic()
                if hold <= 0 and left():
                    break
                # while the hold runs, wake at its end; after it, when the vehicle has left
                await self._changed(min(1.0, hold) if hold > 0 else 1.0, left)
        await self._signal(Aspect.RED, "")

    async def _close_barrier(self) -> None:
        await self._command(self.barrier, self.barrier.close, "barrier close")
        await self._wait_until(lambda: self.barrier.position is BarrierPosition.CLOSED,
                               self.policy.confirm_timeout_ms / 1000, what="barrier closed confirmation")

    # -- degraded and recovery ---------------------------------------------------------------
    async def _degrade(self, fault: LaneFault, txn_id: str | None = None) -> None:
        """Fail safe: command the barrier closed, show refer, say so."""
        self._faults.clear()
        self.stats.faults += 1
        record = Fault(self._stamp(), fault.kind, fault.message, fault.device, txn_id, fault.plugin)
        self._set_state(LaneState.DEGRADED, f"{fault.kind}: {fault.message}")
        self._log.warning("lane_degraded", kind=fault.kind, device=fault.device, plugin=fault.plugin,
                          message=fault.message)
        await asyncio.gather(self._close_safely("degraded"), self.services.report_fault(record))

    async def _close_safely(self, why: str) -> None:
        """Best effort, bounded: barrier closed, lights red, display 'refer to officer'; each command is
        tried even when another fails."""
        barrier, lights, display = self.barrier, self._lights, self._display
        steps: list[tuple[Device, str, Command]] = [(barrier, "barrier close", barrier.close)]
        if lights is not None:
            steps.append((lights, "lights", lambda: lights.show(Aspect.RED)))
        if display is not None:
            steps.append((display, "display", lambda: display.show_text("refer to officer")))
        for dev, what, command in steps:
            try:
                await self._command(dev, command, what)
            except LaneFault as fault:
                self._log.error("safe_close_failed", device=dev.role, why=SafeText(why), error=fault.kind)

    async def _recover(self) -> None:
        """Back to idle when every device is online and the barrier confirms closed."""
        if self._stopping or self._manual:
            return
        try:
            self._faults.clear()
            await self._close_barrier()
            await self._signal(Aspect.RED, "")
        except LaneFault as fault:
            if self._stopping or self._manual:
                return
            if self.state is not LaneState.DEGRADED:
                await self._degrade(fault)
            return
        if self.state is LaneState.DEGRADED:
            self._log.info("lane_recovered")
        self._set_state(LaneState.IDLE, "recovered")
