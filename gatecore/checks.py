"""What plugins hand to the core, checked where it enters: evidence and votes of the promised types, with
plain-JSON, bounded claims and summaries that nobody can change afterwards."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from gatecore.privacy import SafeMessage
from gatecore.types import Evidence, Outcome, Vote

MAX_TEXT = 200
MAX_ITEMS = 256
MAX_DEPTH = 4


class FrozenDict(dict[str, Any]):
    """A ``dict`` that refuses changes (JSON encoders still see a dict): nested maps of frozen evidence."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("evidence is read-only")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return id(self)


def plain_json(value: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """``value`` as read-only plain JSON (maps with string keys, tuples, strings, finite numbers, booleans,
    ``None``), bounded in depth, items and text length; ``ValueError`` says what is not."""
    budget = [MAX_ITEMS] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(f"more than {MAX_ITEMS} items")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"a number that is not finite ({value})")
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT * 5:
            raise ValueError(f"a text longer than {MAX_TEXT * 5} characters")
        return value
    if depth >= MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH}")
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ValueError("a map with keys that are not strings")
        return FrozenDict({k: plain_json(v, depth + 1, budget) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(plain_json(v, depth + 1, budget) for v in value)
    raise ValueError(f"a value of type {type(value).__name__}")


class Refused(SafeMessage, ValueError):
    """What a plugin handed the core is not what the hook promises; the message names no value of it."""


def _number(value: Any, what: str, low: float, high: float) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not low <= value <= high:
        return f"{what} must be a finite number in [{low:g}, {high:g}], (got a {type(value).__name__})"
    return None


def checked_evidence(result: object, source: str, kind: str | None = None) -> Evidence:
    """``result`` as the core keeps it: a read-only :class:`Evidence` of ``source`` (of ``kind``, the
    source's configured kind, when given) with finite times and scores and plain-JSON claims and summary.
    :class:`Refused` says what a source got wrong."""
    if not isinstance(result, Evidence):
        raise Refused(f"collect returned {type(result).__name__}, not Evidence")
    if result.source != source:
        raise Refused(f"evidence for another source, expected {source!r}")
    problem = (_number(result.confidence, "confidence", 0.0, 1.0)
               or _number(result.elapsed_ms, "elapsed_ms", 0.0, 86_400_000.0))
    if problem:
        raise Refused(problem)
    if kind is None and (not isinstance(result.kind, str) or not 0 < len(result.kind) <= 64):
        raise Refused("kind must be a text of 1 to 64 characters")
    if result.outcome is not None and not isinstance(result.outcome, Outcome):
        raise Refused(f"outcome must be an Outcome or None, not a {type(result.outcome).__name__}")
    if not isinstance(result.reason, str) or len(result.reason) > MAX_TEXT:
        raise Refused(f"reason must be a text of at most {MAX_TEXT} characters")
    try:
        claims, summary = plain_json(result.claims), plain_json(result.summary)
    except ValueError as exc:
        raise Refused(f"claims and summary must be plain JSON: {exc}") from None
    if not isinstance(claims, Mapping) or not isinstance(summary, Mapping):
        raise Refused("claims and summary must be maps")
    return Evidence(source, kind or result.kind, result.outcome, float(result.confidence), result.reason,
                    MappingProxyType(claims), MappingProxyType(summary), float(result.elapsed_ms))


def checked_votes(result: object, voter: str) -> list[Vote]:
    """A voter's answer (a :class:`Vote` or a sequence of them) as a list of votes of ``voter`` (the
    plugin's name); :class:`Refused` otherwise."""
    votes = [result] if isinstance(result, Vote) else result
    if not isinstance(votes, list | tuple):
        raise Refused(f"a vote must be a Vote or a list of votes, not {type(result).__name__}")
    for vote in votes:
        if not isinstance(vote, Vote):
            raise Refused(f"a vote must be a Vote, not {type(vote).__name__}")
        if not isinstance(vote.outcome, Outcome) or not isinstance(vote.reason, str) or len(vote.reason) > MAX_TEXT \
                or not (vote.source is None or isinstance(vote.source, str)):
            raise Refused("a vote needs an Outcome, a short reason and a source name or None")
    return [vote if vote.voter == voter else Vote(voter, vote.outcome, vote.reason, vote.source) for vote in votes]
