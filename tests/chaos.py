"""A chaos plugin: every plugin-facing call the core makes can misbehave, on one lane only.

Its devices (``chaos.lights``, ``chaos.display``), its evidence source (``chaos``), its voter and its report
and lifecycle hooks each look up the mode set for their *point* in ``site.stash[CHAOS]`` and act it out
when the call is about the chaos lane (``Chaos.lane``): raise an ordinary exception, raise
``CancelledError`` or ``SystemExit``, hang, hang and swallow their cancellation, block the event loop,
or return the wrong thing. Everything else behaves: the source says PASS, the voter abstains.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gatecore.api import (
    Aspect,
    Decision,
    Device,
    DeviceConfig,
    DeviceContext,
    Display,
    Evidence,
    EvidenceConfig,
    EvidenceSource,
    Fault,
    LaneInfo,
    LaneStateChange,
    Lights,
    OfficerEvent,
    Outcome,
    PartnerMessage,
    SiteView,
    StashKey,
    TransactionContext,
    Vote,
    hookimpl,
)

#: where chaos can strike, and how
POINTS = ("collect", "collect_at_once", "vote", "report_decision", "lights", "display",
          "report_fault", "report_state", "site_start", "site_stop")
#: a device's own start and stop (outside any crossing)
DEVICE_POINTS = ("device_start", "device_stop")
#: the site's calls for plugins: messages to and from the partner gate, officers' events (outside any crossing)
SITE_POINTS = ("partner_send", "partner_receive", "officer_event")
MODES = ("raise", "cancel", "exit", "hang", "swallow", "block", "wrong")
BLOCK_S = 0.15  # past the budget the chaos profiles set (run.hook_budget_ms = 50)


@dataclass(eq=False)
class Chaos:
    lane: str = "l1"
    modes: dict[str, str] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    """Set at the end of a test: coroutines that swallow their cancellation may end then."""
    calls: Counter[str] = field(default_factory=Counter)
    wrong: int = 0

    def mode(self, point: str, lane: str | None) -> str:
        self.calls[point] += 1
        return self.modes.get(point, "ok") if lane == self.lane else "ok"

    def calm(self) -> None:
        self.modes.clear()
        self.release.set()


CHAOS = StashKey[Chaos]()


def act_now(mode: str, point: str) -> None:
    """The part of a misbehaviour that happens before the first wait."""
    if mode == "raise":
        raise RuntimeError(f"chaos in {point}")
    if mode == "cancel":
        raise asyncio.CancelledError()
    if mode == "exit":
        raise SystemExit(3)
    if mode == "block":
        time.sleep(BLOCK_S)


async def act(chaos: Chaos, mode: str, point: str) -> None:
    """A misbehaviour in a coroutine: it first waits once, so it fails in a task of its own."""
    if mode == "ok":
        return
    await asyncio.sleep(0)
    act_now(mode, point)
    if mode == "hang":
        await asyncio.Event().wait()
    if mode == "swallow":
        while not chaos.release.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                pass


def wrong_evidence(source: str, n: int) -> Any:
    return [Evidence(source, "chaos", Outcome.PASS, confidence=math.nan),
            Evidence(source, "chaos", Outcome.PASS, elapsed_ms="12"),  # type: ignore[arg-type]
            Evidence(source, "chaos", Outcome.PASS, summary={"x": object()}),
            Evidence("another", "chaos", Outcome.PASS),
            "pass"][n % 5]


def wrong_vote(n: int) -> Any:
    return ["pass", 42, {"outcome": "pass"}, [None], Vote("chaos", "pass")][n % 5]  # type: ignore[arg-type]


class ChaosLightsConfig(DeviceConfig):
    kind: Literal["chaos.lights"]
    makes = Lights


class ChaosDisplayConfig(DeviceConfig):
    kind: Literal["chaos.display"]
    makes = Display


class ChaosEvidenceConfig(EvidenceConfig):
    kind: Literal["chaos"]


class ChaosLights(Lights):
    async def start(self) -> None:
        chaos = self.ctx.site.stash[CHAOS]
        await act(chaos, chaos.mode("device_start", self.ctx.lane_id), "device_start")

    async def stop(self) -> None:
        chaos = self.ctx.site.stash[CHAOS]
        await act(chaos, chaos.mode("device_stop", self.ctx.lane_id), "device_stop")

    async def show(self, aspect: Aspect) -> None:
        chaos = self.ctx.site.stash[CHAOS]
        await act(chaos, chaos.mode("lights", self.ctx.lane_id), "lights")


class ChaosDisplay(Display):
    async def show_text(self, text: str) -> None:
        chaos = self.ctx.site.stash[CHAOS]
        await act(chaos, chaos.mode("display", self.ctx.lane_id), "display")


class ChaosSource:
    def __init__(self, source: str, lane: LaneInfo) -> None:
        self.source, self.lane = source, lane
        self.chaos = lane.site.stash[CHAOS]

    async def collect(self, txn: TransactionContext) -> Evidence:
        at_once = self.chaos.mode("collect_at_once", txn.lane_id)  # misbehaves before it first waits
        if at_once == "wrong":
            self.chaos.wrong += 1
            return wrong_evidence(self.source, self.chaos.wrong)  # type: ignore[no-any-return]
        if at_once == "timeout":  # an asyncio.timeout entered before the first wait is the source's own
            async with asyncio.timeout(0.05):
                await asyncio.Event().wait()
        act_now(at_once, "collect_at_once") if at_once != "ok" else None
        mode = self.chaos.mode("collect", txn.lane_id)
        if mode == "wrong":
            self.chaos.wrong += 1
            await asyncio.sleep(0)
            return wrong_evidence(self.source, self.chaos.wrong)  # type: ignore[no-any-return]
        if mode == "block":
            act_now(mode, "collect")  # before the first wait: the lane measures it
        else:
            await act(self.chaos, mode, "collect")
        return Evidence(self.source, "chaos", Outcome.PASS, reason="calm")


@hookimpl
def gatecore_site_setup(site: SiteView) -> None:
    site.stash[CHAOS] = Chaos()


@hookimpl
def gatecore_device_kinds() -> Sequence[type[DeviceConfig]]:
    return (ChaosLightsConfig, ChaosDisplayConfig)


@hookimpl
def gatecore_evidence_kinds() -> Sequence[type[EvidenceConfig]]:
    return (ChaosEvidenceConfig,)


@hookimpl
def gatecore_make_device(config: DeviceConfig, ctx: DeviceContext) -> Device | None:
    if isinstance(config, ChaosLightsConfig):
        return ChaosLights(ctx)
    if isinstance(config, ChaosDisplayConfig):
        return ChaosDisplay(ctx)
    return None


@hookimpl
def gatecore_make_evidence_source(config: EvidenceConfig, lane: LaneInfo) -> EvidenceSource | None:
    return ChaosSource(config.source, lane) if isinstance(config, ChaosEvidenceConfig) else None


def _hook(chaos: Chaos, point: str, lane: str | None, wrong: Any = None) -> Any:
    """A plain hook that misbehaves at once (raise, block), returns a misbehaving coroutine (hang, swallow),
    or returns ``wrong``."""
    mode = chaos.mode(point, lane)
    if mode in ("hang", "swallow"):
        return act(chaos, mode, point)
    if mode == "wrong":
        return wrong
    act_now(mode, point) if mode != "ok" else None
    return None


@hookimpl
def gatecore_vote(site: SiteView, txn: TransactionContext, evidence: Mapping[str, Evidence]) -> Any:
    chaos = site.stash[CHAOS]
    if chaos.modes.get("vote") == "wrong":
        chaos.wrong += 1
    return _hook(chaos, "vote", txn.lane_id, wrong_vote(chaos.wrong))


@hookimpl
def gatecore_report_decision(site: SiteView, decision: Decision) -> Any:
    return _hook(site.stash[CHAOS], "report_decision", decision.stamp.lane_id)


@hookimpl
def gatecore_report_fault(site: SiteView, fault: Fault) -> Any:
    return _hook(site.stash[CHAOS], "report_fault", fault.stamp.lane_id)


@hookimpl
def gatecore_report_lane_state(site: SiteView, change: LaneStateChange) -> Any:
    return _hook(site.stash[CHAOS], "report_state", change.stamp.lane_id)


@hookimpl
def gatecore_site_start(site: SiteView) -> Any:
    chaos = site.stash[CHAOS]
    return _hook(chaos, "site_start", chaos.lane)


@hookimpl
def gatecore_site_stop(site: SiteView) -> Any:
    chaos = site.stash[CHAOS]
    return _hook(chaos, "site_stop", chaos.lane)


@hookimpl
def gatecore_partner_send(site: SiteView, message: PartnerMessage) -> Any:
    chaos = site.stash[CHAOS]
    return _hook(chaos, "partner_send", chaos.lane, wrong="yes")


@hookimpl
def gatecore_partner_receive(site: SiteView, message: PartnerMessage) -> Any:
    chaos = site.stash[CHAOS]
    return _hook(chaos, "partner_receive", chaos.lane, wrong=42)


@hookimpl
def gatecore_report_officer_event(site: SiteView, event: OfficerEvent) -> Any:
    chaos = site.stash[CHAOS]
    return _hook(chaos, "officer_event", chaos.lane, wrong=42)
