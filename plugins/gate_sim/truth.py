"""The run judged against the world's truth: each lane's first decision about each arrival, per flow."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from gatecore.api import Decision, SiteView

from .world import Arrival, LaneWorld

#: How long after the fault plan heals a device a lane may still decide degraded by it (probe, recovery).
RECOVERY_S = 5.0
FAULT_REASON = "lane fault: "


def expected(arrival: Arrival, decision: Decision, lane: LaneWorld | None, now: float) -> tuple[tuple[str, ...], str]:
    """What the lane should have decided about ``arrival``: the world's truth, except that a lane which decided
    degraded (a lane fault among the reasons) because of a device the profile's fault plan took off should have
    referred - failing safe is the right outcome there, and a pass would be wrong."""
    if lane is not None:
        roles = [r.removeprefix(FAULT_REASON).split(":")[0] for r in decision.reasons if r.startswith(FAULT_REASON)]
        if any(lane.faulted(role, now, RECOVERY_S) for role in roles):
            return ("refer",), f"{arrival.why}, lane degraded by the scheduled fault"
    return arrival.expect, arrival.why


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return round(ordered[k], 1)


@dataclass
class Judge:
    """Decisions by flow, and those about an arrival of the world set against what it should have been."""

    by_flow: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    table: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    agree: int = 0
    judged: int = 0
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    flow_truth: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def decided(self, flow: str, decision: Decision, arrival: Arrival | None, lane: LaneWorld | None = None,
                now: float = 0.0) -> None:
        """One lane decision; ``lane`` (the arrival's lane of the world) and ``now`` (loop time) tell whether
        the fault plan had one of its devices off (:func:`expected`)."""
        outcome = decision.outcome.value
        self.by_flow[flow][outcome] += 1
        self.latency[flow].append(decision.latency_ms)
        if arrival is None:
            return
        expect, why = expected(arrival, decision, lane, now)
        self.judged += 1
        self.flow_truth[flow]["of"] += 1
        self.table[why][outcome] += 1
        if outcome in expect:
            self.agree += 1
            self.flow_truth[flow]["agree"] += 1
        else:
            self.disagreements.append({"lane": decision.stamp.lane_id, "who": arrival.id, "truth": why,
                                       "expected": "/".join(expect), "decided": outcome,
                                       "reasons": list(decision.reasons), **({"note": arrival.note}
                                                                              if arrival.note else {})})

    def summary(self, site: SiteView) -> dict[str, Any]:
        crossings: Counter[str] = Counter()
        for lane in site.lanes.values():
            crossings[lane.config.flow or "other"] += lane.crossings
        flows = {flow: {"crossings": crossings[flow], "decisions": dict(self.by_flow[flow]),
                        "p50_ms": percentile(self.latency[flow], 50), "p99_ms": percentile(self.latency[flow], 99)}
                 for flow in sorted(set(crossings) | set(self.by_flow))}
        return {"flows": flows,
                "truth": {"agree": self.agree, "of": self.judged,
                          "flows": {f: {"agree": n["agree"], "of": n["of"]}
                                    for f, n in sorted(self.flow_truth.items())},
                          "table": {why: dict(n) for why, n in sorted(self.table.items())},
                          "disagreements": self.disagreements}}
