"""A test plugin that puts document-number-like and name-like values into every free field the core lets a
plugin reach: its evidence (kind, reason, claims, summary keys and values, a source name), its votes
(voter, reason, source), the messages of the exceptions its evidence source, voter, reporters, device
and background task raise, its device's offline reason, and its own log lines. ``tests/test_privacy_site.py``
runs it beside every first-party plugin that needs no hardware and looks for :data:`VALUES` in
everything that left the controller.

Registered by entry point in that test (``leaky = tests.leaky``), as a vendor's plugin would be.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import structlog

from gatecore.api import (
    FLAG,
    NUMBER,
    REF,
    Aspect,
    Codes,
    Decision,
    Device,
    DeviceConfig,
    DeviceContext,
    DeviceError,
    Evidence,
    EvidenceConfig,
    EvidenceSource,
    Fault,
    Group,
    LaneInfo,
    LaneStateChange,
    Lights,
    Outcome,
    Reports,
    SiteView,
    StashKey,
    TransactionContext,
    Vote,
    hookimpl,
)

DOC, CCCD, NAME, NAME_VI = "C1234567", "079201001234", "NGUYEN VAN A", "Trần Thị B"
#: what must never leave the controller
VALUES = (DOC, CCCD, NAME, NAME_VI)
#: the summary fields the old deny-list let through, and a few more
FREE_KEYS = ("holder", "doc", "docno", "idnumber", "id_no", "cccd", "sub", "ref", "given", "name", "birth")

log = structlog.get_logger("leaky")


class LeakyEvidenceConfig(EvidenceConfig):
    """Evidence that says a little that is declared safe and much that is not."""

    reports: ClassVar[Reports] = Reports(["seen"], score=NUMBER, seen=FLAG, level=Codes("low", "high"),
                                         pass_ref=REF, stage=Group(ms=NUMBER))
    kind: Literal["leaky.evidence"]


class LeakyLightsConfig(DeviceConfig):
    makes = Lights
    kind: Literal["leaky.lights"]


@dataclass
class Leaks:
    """Per-site counters: which call this is, so each failure comes now and then, not every time."""

    calls: dict[str, itertools.count[int]] = field(default_factory=dict)

    def nth(self, what: str) -> int:
        return next(self.calls.setdefault(what, itertools.count(1)))


LEAKS = StashKey[Leaks]()


def personal(n: int) -> str:
    return VALUES[n % len(VALUES)]


def leaky_summary(n: int) -> dict[str, object]:
    """Declared fields (one of them of a wrong value), then every free key with a personal value."""
    return {"score": 0.93, "seen": True, "level": NAME, "pass_ref": DOC, "stage": {"ms": 1.5, NAME: CCCD},
            **{key: personal(n + i) for i, key in enumerate(FREE_KEYS)}, DOC: 1, NAME_VI: {"given": NAME}}


class LeakySource:
    def __init__(self, config: LeakyEvidenceConfig, leaks: Leaks) -> None:
        self.source = config.source
        self.leaks = leaks

    async def collect(self, txn: TransactionContext) -> Evidence:
        n = self.leaks.nth(f"collect/{txn.lane_id}")
        await asyncio.sleep(0)
        if n % 7 == 3:
            raise ValueError(f"{NAME} holds {DOC}")  # a plugin fault whose message is personal
        source = NAME_VI if n % 7 == 5 else self.source  # evidence for another source: refused
        claims = {"identity_ref": CCCD, "holder": NAME, "doc": DOC, "given": NAME_VI}
        return Evidence(source, NAME, Outcome.PASS, 0.9, personal(n) if n % 2 else "seen", claims,
                        leaky_summary(n))


class LeakyLights(Lights):
    """Lights whose commands fail now and then with a personal message, and that drop off now and then
    with a personal reason (back a moment later)."""

    def __init__(self, ctx: DeviceContext, leaks: Leaks) -> None:
        super().__init__(ctx)
        self.leaks = leaks

    async def show(self, aspect: Aspect) -> None:
        n = self.leaks.nth(f"lights/{self.ctx.lane_id}")
        if n % 11 == 5:
            raise DeviceError(f"lamp of {NAME} ({DOC}) failed")
        if n % 13 == 7:
            self.set_online(False, f"{NAME_VI} {CCCD} unplugged it")
            asyncio.get_running_loop().call_later(0.05, self.set_online, True)


@hookimpl
def gatecore_device_kinds() -> Sequence[type[DeviceConfig]]:
    return (LeakyLightsConfig,)


@hookimpl
def gatecore_evidence_kinds() -> Sequence[type[EvidenceConfig]]:
    return (LeakyEvidenceConfig,)


@hookimpl
def gatecore_site_setup(site: SiteView) -> None:
    site.stash[LEAKS] = Leaks()
    raise RuntimeError(f"setup of {NAME}")  # logged as a failed hook; the state is made already


@hookimpl
def gatecore_make_device(config: DeviceConfig, ctx: DeviceContext) -> Device | None:
    return LeakyLights(ctx, ctx.site.stash[LEAKS]) if isinstance(config, LeakyLightsConfig) else None


@hookimpl
def gatecore_make_evidence_source(config: EvidenceConfig, lane: LaneInfo) -> EvidenceSource | None:
    return LeakySource(config, lane.site.stash[LEAKS]) if isinstance(config, LeakyEvidenceConfig) else None


async def _crash() -> None:
    await asyncio.sleep(0)
    raise RuntimeError(f"background task of {NAME_VI} {CCCD}")


@hookimpl
def gatecore_site_start(site: SiteView) -> None:
    site.spawn(_crash(), name="leaky/crash")


@hookimpl
def gatecore_vote(site: SiteView, txn: TransactionContext, evidence: Mapping[str, Evidence]) -> list[Vote]:
    n = site.stash[LEAKS].nth(f"vote/{txn.lane_id}")
    if n % 9 == 4:
        raise RuntimeError(f"voter saw {NAME} {DOC}")
    # under a personal voter name, about the leaky source with a personal reason, about a personal source
    votes = [Vote(NAME, Outcome.PASS, NAME_VI, source="leak"), Vote(DOC, Outcome.PASS, "seen", source=CCCD)]
    if n % 9 == 6:
        votes.append(Vote(NAME_VI, Outcome.DENY, f"watchlist: {NAME}", source="leak"))
    log.warning(f"voted on {NAME}", holder=NAME, reason=f"{NAME_VI} {CCCD}", error=f"bad {DOC}")
    return votes


@hookimpl
def gatecore_report_decision(site: SiteView, decision: Decision) -> None:
    if site.stash[LEAKS].nth(f"decision/{decision.stamp.lane_id}") % 10 == 8:
        raise RuntimeError(f"could not file {NAME}'s crossing ({CCCD})")


@hookimpl
def gatecore_report_fault(site: SiteView, fault: Fault) -> None:
    raise RuntimeError(f"fault of {NAME_VI} not filed")


@hookimpl
def gatecore_report_lane_state(site: SiteView, change: LaneStateChange) -> None:
    if site.stash[LEAKS].nth("state") % 17 == 0:
        raise RuntimeError(f"state of {DOC}")
