"""Fusion: the reads of one vehicle - front and rear cameras, several frames each - into candidates with
confidences, plates and container codes in separate lists.

Each distinct text read is a candidate. Its confidence is

    support x share x validity

- **support**: how strongly the reads back it, ``1 - prod(1 - q * s * a)`` over the reads, where ``q`` is a
  read's confidence (times its validity, for a read of another text), ``s`` its similarity to the candidate
  (1 for the same text, ``1 - d / near_distance`` for a text within the weighted edit distance
  ``near_distance``, e.g. one confusable character away, else 0) and ``a`` 1 for the first read of each
  camera and ``repeat_weight`` for its further frames (frames of one camera are not independent; front and
  rear agreeing are);
- **share**: how much of what was read of the same object backs it: the reads within ``rival_distance`` of
  it (other readings of the same plate), weighted by ``q * s``, over the same reads weighted by ``q``. Two
  cameras that disagree split it; a different plate in view (the next vehicle's) is no rival;
- **validity**: 1 for a text of a valid format (:mod:`gate_plate.formats`, of the lane's countries; a
  container code with its check digit), ``invalid_weight`` otherwise. A format-invalid read also counts
  that much less in the support and share of the others.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from . import formats
from .distance import Costs, distance


@dataclass(frozen=True)
class Read:
    """One plate or code read in one frame: ``text`` normalised, ``view`` the camera role, ``frame`` its
    number in that camera's sequence, ``box`` (x0, y0, x1, y1) in the frame."""

    text: str
    kind: str
    country: str
    layout: str
    confidence: float
    view: str = ""
    frame: int = 0
    box: tuple[float, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A fused text: its confidence, whether its format is valid (``problem`` says why not), how many reads
    had exactly this text, from which cameras, and the box of its best read."""

    text: str
    kind: str
    country: str
    layout: str
    confidence: float
    valid: bool
    problem: str | None
    reads: int
    views: tuple[str, ...]
    box: tuple[float, ...] = ()
    read_confidence: float = 0.0


@dataclass(frozen=True)
class Fusion:
    """How reads are weighed (see the module's docstring)."""

    repeat_weight: float = 0.5
    invalid_weight: float = 0.3
    near_distance: float = 1.0
    rival_distance: float = 2.0
    countries: tuple[str, ...] = ("VN", "CN")


def problem_of(text: str, kind: str, countries: Sequence[str]) -> str | None:
    """Why ``text`` is not a valid ``kind`` (of one of ``countries``, for a plate), or ``None``."""
    problem = formats.validate(text, kind=kind)
    if problem is None and kind == "plate":
        fmt = formats.classify(text)
        if fmt is not None and fmt.country not in countries:
            return f"a {fmt.country} plate, and this lane reads {', '.join(countries)} plates"
    return problem


def fuse(reads: Iterable[Read], costs: Costs, how: Fusion = Fusion()) -> dict[str, list[Candidate]]:
    """The candidates of each kind read (``"plate"``, ``"container"``), best first."""
    by_kind: dict[str, list[Read]] = defaultdict(list)
    for r in reads:
        if r.text:
            by_kind[r.kind].append(r)
    return {kind: _fuse_kind(kind, rs, costs, how) for kind, rs in by_kind.items()}


def _fuse_kind(kind: str, reads: list[Read], costs: Costs, how: Fusion) -> list[Candidate]:
    texts = sorted({r.text for r in reads})
    problems = {t: problem_of(t, kind, how.countries) for t in texts}
    validity = {t: 1.0 if problems[t] is None else how.invalid_weight for t in texts}
    limit = max(how.near_distance, how.rival_distance)
    dist: dict[tuple[str, str], float] = {}
    for i, a in enumerate(texts):  # the distance is symmetric
        for b in texts[i:]:
            dist[a, b] = dist[b, a] = distance(tuple(a), b, costs, limit)
    out = []
    for text in texts:
        sims = [_similarity(dist[text, r.text], how.near_distance) for r in reads]
        weights = [r.confidence * (1.0 if r.text == text else validity[r.text]) for r in reads]
        support = 1.0 - math.prod(1.0 - min(1.0, w * s * a)
                                  for w, s, a in zip(weights, sims, _repeats(reads, sims, how), strict=True))
        rivals = [i for i, r in enumerate(reads) if dist[text, r.text] <= how.rival_distance]
        total = sum(weights[i] for i in rivals)
        share = sum(weights[i] * sims[i] for i in rivals) / total if total > 0 else 0.0
        out.append(_candidate(text, kind, [r for r in reads if r.text == text], support * share, validity[text],
                              problems[text]))
    out.sort(key=lambda c: (-c.confidence, -c.reads, c.text))
    return out


def _similarity(d: float, near: float) -> float:
    if d == 0:
        return 1.0
    return max(0.0, 1.0 - d / near) if near > 0 else 0.0


def _repeats(reads: Sequence[Read], sims: Sequence[float], how: Fusion) -> list[float]:
    """1 for the read backing the candidate most in each camera, ``repeat_weight`` for the others."""
    best: dict[str, int] = {}
    for i, r in enumerate(reads):
        j = best.get(r.view)
        if j is None or sims[i] * r.confidence > sims[j] * reads[j].confidence:
            best[r.view] = i
    chosen = set(best.values())
    return [1.0 if i in chosen else how.repeat_weight for i in range(len(reads))]


def _candidate(text: str, kind: str, exact: list[Read], backing: float, validity: float,
               problem: str | None) -> Candidate:
    votes: dict[tuple[str, str], float] = defaultdict(float)
    for r in exact:
        votes[r.country, r.layout] += r.confidence
    fmt = formats.classify(text)
    country, layout = max(votes, key=lambda k: votes[k]) if votes else ("", "")
    if fmt is not None:
        country = fmt.country
    best = max(exact, key=lambda r: r.confidence, default=None)
    backing = min(1.0, max(0.0, backing))
    return Candidate(text, kind, country, layout, round(backing * validity, 6), problem is None, problem, len(exact),
                     tuple(sorted({r.view for r in exact})), best.box if best else (), round(backing, 6))
