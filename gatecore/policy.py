"""The lane policy: how votes and missing evidence combine into one outcome."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gatecore.config import PolicyConfig
from gatecore.privacy import SafeText
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
    """Any DENY wins; then a device offline (``faults``: roles), missing required (or, with
    ``refer_on_timeout``, any missing) evidence, or a REFER vote gives REFER; PASS needs a PASS vote for
    every required source and at least one PASS vote in all.

    The reasons are composed from source names, device roles, voters' plugin names and the votes'
    reasons, which the lane has already made fit to leave the controller (:func:`gatecore.types.recordable_vote`)."""
    votes = tuple(votes)
    missing = tuple(s for s in sources if s not in evidence)
    denies = [_why(v) for v in votes if v.outcome is Outcome.DENY]
    if denies:
        return Verdict(Outcome.DENY, tuple(denies), missing)
    reasons = [SafeText(f"lane fault: {role}: offline") for role in faults]
    for name in missing:
        if name in policy.require or policy.refer_on_timeout:
            reasons.append(SafeText(f"{name}: no evidence in time"))
    reasons += [_why(v) for v in votes if v.outcome is Outcome.REFER]
    passed = {v.source for v in votes if v.outcome is Outcome.PASS}
    reasons += [SafeText(f"{name}: required, not passed") for name in policy.require
                if name not in passed and name not in missing]
    if not reasons and not passed:
        reasons.append(SafeText("no PASS vote"))
    if reasons:
        return Verdict(Outcome.REFER, tuple(reasons), missing)
    return Verdict(Outcome.PASS, tuple(sorted(SafeText(f"{s}: pass") for s in passed if s)), missing)


def _why(vote: Vote) -> SafeText:
    who = vote.source or vote.voter
    return SafeText(f"{who}: {vote.reason or vote.outcome.value}")
