"""A test plugin, written as a vendor would: scripted evidence, a watching barrier, a report recorder.

The test sets what each evidence source answers next through ``site.stash[SCRIPT]`` and reads what the
core reported from ``site.stash[REPORTS]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from gatecore.api import (
    Barrier,
    BarrierPosition,
    ConfigModel,
    Decision,
    Device,
    DeviceConfig,
    DeviceContext,
    DeviceError,
    Evidence,
    EvidenceConfig,
    EvidenceSource,
    Fault,
    LaneInfo,
    LaneState,
    LaneStateChange,
    Outcome,
    SecretRef,
    SiteView,
    StashKey,
    TransactionContext,
    hookimpl,
)


@dataclass
class Answer:
    """What a scripted source answers: an outcome after ``delay`` s, or ``error``/``hang``; ``now`` and
    ``now-error`` answer (or fail) at once, without waiting; ``needs`` names another source whose
    evidence ``collect`` waits for first (REFER without it)."""

    outcome: Outcome | None = Outcome.PASS
    delay: float = 0.0
    mode: Literal["ok", "error", "hang", "now", "now-error"] = "ok"
    needs: str | None = None


@dataclass
class Reports:
    decisions: list[Decision] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    states: list[LaneStateChange] = field(default_factory=list)
    opens: list[tuple[str | None, str | None]] = field(default_factory=list)  # (txn at open, last decision txn)
    violations: list[str] = field(default_factory=list)


SCRIPT = StashKey[dict[str, list[Answer]]]()
REPORTS = StashKey[Reports]()


class ScriptedSection(ConfigModel):
    """[plugins.scripted]: only here to test secret references in a plugin's section."""

    token: SecretRef | None = None


class ScriptedConfig(EvidenceConfig):
    kind: Literal["scripted"]


class WatchedBarrierConfig(DeviceConfig):
    """A barrier that checks the safety invariant at every open command, from outside the lane."""

    makes = Barrier
    kind: Literal["watched.barrier"]
    travel_ms: int = 10


class Scripted:
    def __init__(self, source: str, lane: LaneInfo) -> None:
        self.source = source
        self.lane = lane

    def _queue(self) -> list[Answer]:
        return self.lane.site.stash[SCRIPT].setdefault(self.source, [])

    async def collect(self, txn: TransactionContext) -> Evidence:
        queue = self._queue()
        answer = queue.pop(0) if queue else Answer()
        if answer.mode == "now-error":
            raise RuntimeError("scripted failure at once")
        if answer.mode == "now":
            return Evidence(self.source, "scripted", answer.outcome, reason=f"scripted at once {answer.outcome}")
        if answer.needs is not None:
            other = await txn.wait_evidence(answer.needs, 1.0)
            if other is None:
                return Evidence(self.source, "scripted", Outcome.REFER, reason=f"no {answer.needs}")
            answer.outcome = other.outcome
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.mode == "error":
            raise RuntimeError("scripted failure")
        if answer.mode == "hang":
            await asyncio.Event().wait()
        return Evidence(self.source, "scripted", answer.outcome, reason=f"scripted {answer.outcome}")


class WatchedBarrier(Barrier):
    def __init__(self, ctx: DeviceContext, travel_ms: int) -> None:
        super().__init__(ctx)
        self.travel = travel_ms / 1000
        self.position = BarrierPosition.CLOSED
        self.mode: str | None = None
        self.commands: list[str] = []

    @property
    def reports(self) -> Reports:
        return self.ctx.site.stash[REPORTS]

    def inject(self, mode: str | None) -> None:
        self.mode = mode
        self.set_online(mode != "drop", f"test {mode}")

    async def open(self) -> None:
        reports = self.reports
        last = next((d for d in reversed(reports.decisions) if d.stamp.lane_id == self.ctx.lane_id), None)
        lane_txn = self.ctx.site.stash[CURRENT_TXN].get(self.ctx.lane_id)
        reports.opens.append((lane_txn, last.txn_id if last else None))
        if last is None or last.outcome is not Outcome.PASS or last.txn_id != lane_txn:
            reports.violations.append(f"open without PASS for the transaction in progress ({last})")
        if any(t == lane_txn for t, _ in reports.opens[:-1]):
            reports.violations.append("barrier opened twice for one transaction")
        await self._move(BarrierPosition.OPEN)

    async def close(self) -> None:
        await self._move(BarrierPosition.CLOSED)

    async def _move(self, target: BarrierPosition) -> None:
        if self.mode in ("fail", "drop"):
            raise DeviceError(f"test {self.mode}")
        if self.mode == "stall":
            await asyncio.Event().wait()
        self.commands.append(target.value)
        if self.mode == "no-feedback":
            return
        self.ctx.spawn(self._arrive(target), "travel")

    async def _arrive(self, target: BarrierPosition) -> None:
        self.report_position(BarrierPosition.MOVING)
        await asyncio.sleep(self.travel)
        if self.mode is None:
            self.report_position(target)


#: The transaction each lane runs, as the lane's state reports say (kept from outside the lane).
CURRENT_TXN = StashKey[dict[str, str | None]]()


@hookimpl
def gatecore_config_section() -> tuple[str, type[ConfigModel]]:
    return "scripted", ScriptedSection


@hookimpl
def gatecore_site_setup(site: SiteView) -> None:
    site.stash[SCRIPT] = {}
    site.stash[REPORTS] = Reports()
    site.stash[CURRENT_TXN] = {}


@hookimpl
def gatecore_evidence_kinds() -> Sequence[type[EvidenceConfig]]:
    return (ScriptedConfig,)


@hookimpl
def gatecore_device_kinds() -> Sequence[type[DeviceConfig]]:
    return (WatchedBarrierConfig,)


@hookimpl
def gatecore_make_device(config: DeviceConfig, ctx: DeviceContext) -> Device | None:
    if isinstance(config, WatchedBarrierConfig):
        return WatchedBarrier(ctx, config.travel_ms)
    return None


@hookimpl
def gatecore_make_evidence_source(config: EvidenceConfig, lane: LaneInfo) -> EvidenceSource | None:
    return Scripted(config.source, lane) if isinstance(config, ScriptedConfig) else None


@hookimpl
async def gatecore_report_decision(site: SiteView, decision: Decision) -> None:
    site.stash[REPORTS].decisions.append(decision)


@hookimpl
def gatecore_report_fault(site: SiteView, fault: Fault) -> None:
    site.stash[REPORTS].faults.append(fault)


@hookimpl
def gatecore_report_lane_state(site: SiteView, change: LaneStateChange) -> None:
    site.stash[REPORTS].states.append(change)
    current = site.stash[CURRENT_TXN]
    if change.new is LaneState.COLLECTING:
        current[change.stamp.lane_id] = change.txn_id
    elif change.new in (LaneState.IDLE, LaneState.DEGRADED, LaneState.MANUAL, LaneState.STOPPED):
        current[change.stamp.lane_id] = None
