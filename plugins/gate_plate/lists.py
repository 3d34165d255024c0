"""Plate lists: the pre-arrival manifest and watchlists, read from CSV or JSON-lines files.

One entry a line (a CSV's first line names its columns; ``#`` starts a comment line in CSV), with

- ``plate``: a plate, or a pattern (:mod:`gate_plate.distance`: ``51G*``, ``re:...``);
- ``container``: one or more container codes or patterns (``;`` between them in CSV, a JSON list or a text
  with ``;`` in JSON lines);
- ``ref``: the entry's reference (a manifest line's id, a watchlist case): it stays on the controller, and
  leaves only as a keyed hash.

An entry has a plate, a container, or both (a manifest line: the truck and what it carries). Literal
entries are checked against the format rules (:mod:`gate_plate.formats`: a plate of a known format, a
container code with the right check digit) unless the list says ``check_formats = false``. Every problem
is reported with the file and line (:class:`ListError`), so ``gatecore check`` says where.

Matching (:meth:`PlateList.match`): the literal entries within the distance are found with rapidfuzz's
plain Levenshtein distance on folded texts (never more than the weighted distance, so none is missed),
then measured with the weighted distance; the patterns are measured one by one (lists hold few).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from . import formats
from .distance import Costs, Pattern, PatternError, parse

COLUMNS = ("plate", "container", "ref")
MAX_BYTES = 64 * 1024 * 1024
MAX_PROBLEMS = 20  # reported of one file; the count of the rest is given


class ListError(ValueError):
    """A list file that cannot be used: the message says where (``path:line: ...``), problem by problem."""

    def __init__(self, problems: Sequence[str], more: int = 0) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems) + (f"; and {more} more" if more else ""))


@dataclass(frozen=True)
class Entry:
    """One plate or container code (or pattern) of a list, with the line it came from. ``group`` is the
    line number of the list entry it belongs to: a manifest line's plate and containers share it."""

    pattern: Pattern
    kind: str  # "plate" | "container"
    ref: str
    line: int

    @property
    def group(self) -> int:
        return self.line


@dataclass(frozen=True)
class Hit:
    """A candidate ``text`` within ``distance`` of ``entry``."""

    entry: Entry
    text: str
    distance: float

    @property
    def how(self) -> str:
        """``exact``, ``fuzzy`` (within the distance) or ``pattern`` (a glob or regular expression)."""
        if self.entry.pattern.kind != "literal":
            return "pattern"
        return "exact" if self.distance == 0 else "fuzzy"


@dataclass
class _Index:
    literal: list[Entry] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)
    patterns: list[Entry] = field(default_factory=list)


@dataclass
class PlateList:
    """A list read from ``path``: its entries, indexed for matching."""

    path: str
    entries: tuple[Entry, ...]
    costs: Costs
    version: tuple[float, int] = (0.0, 0)  # the file's mtime and size when read
    _index: dict[str, _Index] = field(default_factory=dict, repr=False)
    _groups: dict[int, list[Entry]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for entry in self.entries:
            if entry.kind == "container":
                self._groups.setdefault(entry.group, []).append(entry)
            index = self._index.setdefault(entry.kind, _Index())
            if entry.pattern.kind == "literal":
                index.literal.append(entry)
                index.folded.append(self.costs.fold(entry.pattern.text))
            else:
                index.patterns.append(entry)

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, text: str, kind: str, max_distance: float) -> list[Hit]:
        """The entries of ``kind`` within ``max_distance`` of the normalised ``text``, nearest first."""
        index = self._index.get(kind)
        if index is None:
            return []
        hits = []
        near = process.extract(self.costs.fold(text), index.folded, scorer=Levenshtein.distance,
                               score_cutoff=math.floor(max_distance), limit=None)
        for _, _, i in near:
            entry = index.literal[i]
            d = entry.pattern.distance(text, self.costs, max_distance)
            if d <= max_distance:
                hits.append(Hit(entry, text, d))
        for entry in index.patterns:
            d = entry.pattern.distance(text, self.costs, max_distance)
            if d <= max_distance:
                hits.append(Hit(entry, text, d))
        hits.sort(key=lambda h: (h.distance, h.entry.line))
        return hits

    def containers_of(self, group: int) -> tuple[Entry, ...]:
        """The container entries of the list entry ``group`` (a manifest line)."""
        return tuple(self._groups.get(group, ()))


def load(path: str | Path, costs: Costs, check_formats: bool = True) -> PlateList:
    """Read the list at ``path`` (``.csv``, or JSON lines: ``.jsonl``/``.ndjson``); :class:`ListError` names
    each problem with its line."""
    p = Path(path)
    try:
        stat = p.stat()
        if stat.st_size > MAX_BYTES:
            raise ListError([f"{path}: larger than {MAX_BYTES // 2**20} MiB"])
        raw = p.read_bytes()
    except OSError as exc:
        raise ListError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ListError([f"{path}: not UTF-8 (byte {exc.start})"]) from None
    rows = _csv_rows(text) if p.suffix.lower() == ".csv" else _json_rows(text)
    entries: list[Entry] = []
    problems: list[str] = []
    for line, row in rows:
        try:
            entries.extend(_entries(row, line, check_formats))
        except (PatternError, ValueError) as exc:
            problems.append(f"{path}:{line}: {exc}")
    if problems:
        raise ListError(problems[:MAX_PROBLEMS], len(problems) - MAX_PROBLEMS if len(problems) > MAX_PROBLEMS else 0)
    return PlateList(str(path), tuple(entries), costs, (stat.st_mtime, stat.st_size))


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """One CSV record a line (plates and codes have no line breaks), so each keeps its line number."""
    lines = [(n, ln) for n, ln in enumerate(text.splitlines(), 1) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return
    header_line, header = lines[0]
    columns = [c.strip().lower() for c in next(csv.reader([header]))]
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown or not {"plate", "container"} & set(columns):
        yield header_line, f"columns are {', '.join(COLUMNS)} (plate or container at least), not {', '.join(columns)}"
        return
    for n, line in lines[1:]:
        values = next(csv.reader([line]))
        if len(values) > len(columns):
            yield n, f"{len(values)} values for {len(columns)} columns"
            continue
        yield n, dict(zip(columns, values, strict=False))


def _json_rows(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, f"not JSON ({exc.msg} at column {exc.colno})"
            continue
        yield n, value if isinstance(value, dict) else "a JSON object per line, with plate, container and ref"


def _entries(row: dict[str, Any] | str, line: int, check_formats: bool) -> list[Entry]:
    if isinstance(row, str):
        raise ValueError(row)
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (keys: {', '.join(COLUMNS)})")
    ref = row.get("ref") or ""
    if not isinstance(ref, str | int) or isinstance(ref, bool):
        raise ValueError("ref is a text")
    out = [Entry(_pattern(p, "plate", check_formats), "plate", str(ref), line) for p in _values(row.get("plate"))]
    out += [Entry(_pattern(c, "container", check_formats), "container", str(ref), line)
            for c in _values(row.get("container"))]
    if not out:
        raise ValueError("an entry needs a plate or a container")
    return out


def _values(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else str(value).split(";") if isinstance(value, str) else None
    if items is None or not all(isinstance(v, str) for v in items):
        raise ValueError("plate and container are texts (or, for containers, a list of texts)")
    return [v.strip() for v in items if v.strip()]


def _pattern(source: str, kind: str, check_formats: bool) -> Pattern:
    pattern = parse(source)
    if check_formats and pattern.kind == "literal":
        problem = formats.validate(pattern.text, kind=kind)
        if problem:
            raise ValueError(f"{kind} {source!r}: {problem} (or check_formats = false for this list)")
    return pattern
