"""How far a read is from a list entry: an edit distance in which confusable characters cost less, and the
patterns list entries may be written in.

A list entry is one of

- a **literal** plate or code, compared after :func:`gatecore.api.normalise_plate` (``51G-123.45``);
- a **glob**: ``*`` any run of characters (none too), ``?`` one character, ``[...]`` one of the characters
  listed, with ranges (``[0-9]``, ``[A-HK]``); everything else is literal and normalised (``51G*``,
  ``粤B?????``, ``29C[1-3]*``); a glob must name at least one character or class (``*`` alone would match
  every plate);
- a **regular expression** after ``re:`` (Python syntax, matched against the whole normalised text:
  ``re:51[A-Z]\\d{5}``). A regular expression matches or not: the edit distance does not apply to it.

The distance is Levenshtein's with weights (insert, delete: 1; substitute: 1, or the pair's cost when the two
characters are confusable, ``0/O`` say). No maintained library takes a cost per character pair (rapidfuzz
weights insertions, deletions and substitutions, not which characters are substituted), so
:func:`distance` is a small dynamic programme over the pattern's tokens; :func:`fold` gives the plain
Levenshtein distance on folded texts that never exceeds it, which :mod:`gate_plate.lists` computes with
rapidfuzz to keep that programme for the few entries that can be near.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from gatecore.api import normalise_plate

#: confusable pairs of the plates' alphabets and what substituting one for the other costs
DEFAULT_CONFUSABLES: Mapping[str, float] = {
    "0O": 0.2, "0D": 0.3, "OD": 0.3, "0Q": 0.3, "OQ": 0.3, "DĐ": 0.1, "8B": 0.3, "1I": 0.2, "1L": 0.4,
    "IL": 0.4, "1T": 0.5, "5S": 0.3, "2Z": 0.3, "6G": 0.4, "4A": 0.5, "7T": 0.5, "UV": 0.5, "3B": 0.6,
}


class PatternError(ValueError):
    """A list entry that is no literal, glob or regular expression of this module's syntax."""


class Costs:
    """Substitution costs: 1 for two different characters, less for a confusable pair."""

    def __init__(self, pairs: Mapping[str, float] = DEFAULT_CONFUSABLES) -> None:
        self.pairs: dict[frozenset[str], float] = {}
        for pair, cost in pairs.items():
            if len(pair) != 2 or pair[0] == pair[1]:
                raise ValueError(f"confusable {pair!r}: two different characters")
            if not 0 <= cost <= 1:
                raise ValueError(f"confusable {pair!r}: a cost from 0 to 1, not {cost}")
            self.pairs[frozenset(pair)] = cost
        self._fold = _classes(self.pairs)

    def sub(self, a: str, b: str) -> float:
        return 0.0 if a == b else self.pairs.get(frozenset((a, b)), 1.0)

    def fold(self, text: str) -> str:
        """``text`` with each confusable character replaced by its class's representative: the plain
        Levenshtein distance of two folded texts is never more than their weighted distance."""
        return "".join(self._fold.get(c, c) for c in text)


def _classes(pairs: Mapping[frozenset[str], float]) -> dict[str, str]:
    """Each character of a pair costing less than 1 -> the smallest character of its connected class."""
    parent: dict[str, str] = {}

    def root(c: str) -> str:
        while parent.setdefault(c, c) != c:
            c = parent[c]
        return c

    for pair, cost in pairs.items():
        if cost < 1:
            a, b = sorted(root(c) for c in pair)
            parent[b] = a
    return {c: root(c) for c in parent}


ANY = frozenset[str]()  # the ``?`` token: any one character


class Star:
    """The ``*`` token."""

    def __repr__(self) -> str:
        return "*"


STAR = Star()
Token = str | frozenset[str] | Star


@dataclass(frozen=True)
class Pattern:
    """A list entry: ``kind`` ``"literal"``, ``"glob"`` or ``"regex"``; ``text`` the normalised literal
    (``""`` for the others)."""

    source: str
    kind: str
    text: str = ""
    tokens: tuple[Token, ...] = ()
    regex: re.Pattern[str] | None = None

    def distance(self, text: str, costs: Costs, limit: float = math.inf) -> float:
        """How far the normalised ``text`` is from this entry (``inf`` beyond ``limit``)."""
        if self.regex is not None:
            return 0.0 if self.regex.fullmatch(text) else math.inf
        return distance(self.tokens, text, costs, limit)


def parse(source: str) -> Pattern:
    """A list entry as written; :class:`PatternError` says what is wrong with it."""
    if source.startswith("re:"):
        return _regex(source)
    if any(c in source for c in "*?["):
        tokens = _glob(source)
        if not any(t is not STAR for t in tokens):
            raise PatternError(f"{source!r} would match every plate")
        return Pattern(source, "glob", tokens=tokens)
    text = normalise_plate(source)
    if not text:
        raise PatternError("an empty entry")
    return Pattern(source, "literal", text, tuple(text))


def _regex(source: str) -> Pattern:
    try:
        regex = re.compile(source[3:])
    except re.error as exc:
        raise PatternError(f"{source!r} is no regular expression: {exc}") from None
    if regex.fullmatch(""):
        raise PatternError(f"{source!r} matches an empty text")
    return Pattern(source, "regex", regex=regex)


def _glob(source: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    i = 0
    while i < len(source):
        c = source[i]
        if c == "[":
            end = source.find("]", i + 1)
            if end < 0:
                raise PatternError(f"{source!r}: '[' without ']'")
            tokens.append(_char_class(source[i + 1:end], source))
            i = end + 1
            continue
        if c == "*":
            if not tokens or tokens[-1] is not STAR:
                tokens.append(STAR)
        else:
            tokens.extend(ANY if c == "?" else ch for ch in normalise_plate(c))
        i += 1
    return tuple(tokens)


def _char_class(body: str, source: str) -> frozenset[str]:
    chars: set[str] = set()
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            lo, hi = body[i].upper(), body[i + 2].upper()
            if ord(lo) > ord(hi) or ord(hi) - ord(lo) > 64:
                raise PatternError(f"{source!r}: range {body[i:i + 3]} runs backwards or is too wide")
            chars.update(chr(o) for o in range(ord(lo), ord(hi) + 1))
            i += 3
        else:
            chars.update(normalise_plate(body[i]))
            i += 1
    if not chars:
        raise PatternError(f"{source!r}: an empty [...]")
    return frozenset(chars)


def _sub(token: str | frozenset[str], ch: str, costs: Costs) -> float:
    if isinstance(token, str):
        return costs.sub(token, ch)
    if not token or ch in token:
        return 0.0
    return min(costs.sub(t, ch) for t in token)


def distance(tokens: tuple[Token, ...], text: str, costs: Costs, limit: float = math.inf) -> float:
    """The weighted edit distance between a pattern's ``tokens`` and ``text``; ``inf`` once every
    alignment costs more than ``limit``."""
    if STAR not in tokens and abs(len(tokens) - len(text)) > limit:
        return math.inf  # each character more or fewer costs 1
    row = [float(j) for j in range(len(text) + 1)]
    for token in tokens:
        if isinstance(token, Star):  # a run of any length: the cheapest prefix so far carries on
            for j in range(1, len(row)):
                row[j] = min(row[j], row[j - 1])
            continue
        new = [row[0] + 1.0]
        for j, ch in enumerate(text, 1):
            new.append(min(row[j - 1] + _sub(token, ch, costs), row[j] + 1.0, new[j - 1] + 1.0))
        row = new
        if min(row) > limit:
            return math.inf
    return row[-1] if row[-1] <= limit else math.inf
