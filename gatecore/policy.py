"""The lane policy: how votes and missing evidence combine into one outcome."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gatecore.config import PolicyConfig
from gatecore.types import Evidence, Outcome, Vote


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reasons: tuple[str, ...]
    missing: tuple[str, ...]


def combine(
    policy: PolicyConfig,
    sources: Sequence[str],
    evidence: Mapping[str, Evidence],
    votes: Iterable[Vote],
    faults: Sequence[str] = (),
) -> Verdict:
    """Any DENY wins; then a lane fault, missing required (or, with ``refer_on_timeout``, any missing)
    evidence, or a REFER vote gives REFER; PASS needs a PASS vote for every required source and at
    least one PASS vote in all."""
    votes = tuple(votes)
    missing = tuple(s for s in sources if s not in evidence)
    denies = [_why(v) for v in votes if v.outcome is Outcome.DENY]
    if denies:
        return Verdict(Outcome.DENY, tuple(denies), missing)
    reasons = [f"lane fault: {f}" for f in faults]
    for name in missing:
        if name in policy.require or policy.refer_on_timeout:
            reasons.append(f"{name}: no evidence in time")
    reasons += [_why(v) for v in votes if v.outcome is Outcome.REFER]
    passed = {v.source for v in votes if v.outcome is Outcome.PASS}
    reasons += [f"{name}: required, not passed" for name in policy.require
                if name not in passed and name not in missing]
    if not reasons and not passed:
        reasons.append("no PASS vote")
    if reasons:
        return Verdict(Outcome.REFER, tuple(reasons), missing)
    return Verdict(Outcome.PASS, tuple(sorted(f"{s}: pass" for s in passed if s)), missing)


def _why(vote: Vote) -> str:
    who = vote.source or vote.voter
    return f"{who}: {vote.reason or vote.outcome.value}"
