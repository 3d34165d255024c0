"""From candidates to what a source concludes: watchlists first, then the manifest.

A **watchlist** hit (any candidate the reads back from ``watch_confidence``, whatever its format, within the
list's ``max_distance``) refers the crossing; on a list with ``on_hit = "deny"`` it denies when the candidate
is confident (``deny_confidence``) and the hit exact (or a pattern's). A fuzzy or unsure hit never denies: an
officer looks.

The **manifest**: the best candidate that is near an entry is taken; its match confidence is the candidate's
confidence times ``1 - d / (max_distance + 1)`` (an exact hit keeps it, ``0/O`` costs little; for a fuzzy hit
the entry's format stands for the read's, so the confidence before the read's validity is taken). It passes
from ``pass_confidence``; a weaker exact hit is ``low_confidence``, a weaker fuzzy one ``manifest_near``; two
entries equally near are ``manifest_ambiguous``; no entry near any candidate is ``no_manifest_match``.

Container codes: every confident code must be in the manifest - on the manifest line the plate matched,
when the plate source is given, and then each container of that line must have been read.

Everything here is plain computation on the candidates (microseconds to a few milliseconds with large
lists): sources run it in the executor with the reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import formats
from .config import ContainerEvidence, ReadEvidence, VehicleEvidence
from .engine import SitePlates
from .fusion import Candidate
from .lists import Entry, Hit


@dataclass(frozen=True)
class Verdict:
    """A source's conclusion: a reason code, a confidence, what may be reported (``summary``, declared by the
    kind) and what stays on the controller for the other sources (``claims``)."""

    reason: str
    confidence: float
    summary: Mapping[str, Any] = field(default_factory=dict)
    claims: Mapping[str, Any] = field(default_factory=dict)


def _best_summary(c: Candidate) -> dict[str, Any]:
    """The best candidate as its kind declares it (a layout the reader gave that is not the kind's is left
    out here rather than dropped, and counted, on its way out)."""
    out: dict[str, Any] = {"confidence": c.confidence, "valid": c.valid, "views": len(c.views)}
    if c.kind == "plate":
        out.update(plate=c.text, country=c.country.lower() if c.country in ("VN", "CN") else None,
                   layout=c.layout if c.layout in formats.PLATE_LAYOUTS else None)
    else:
        out.update(container=c.text, layout=c.layout if c.layout in formats.CODE_LAYOUTS else None)
    return out


def _claims(candidates: Sequence[Candidate]) -> dict[str, Any]:
    return {"candidates": [{"text": c.text, "confidence": c.confidence, "valid": c.valid} for c in candidates[:8]]}


def watch(state: SitePlates, cfg: ReadEvidence, candidates: Sequence[Candidate]) -> Verdict | None:
    """A watchlist hit among the candidates: ``watchlist_deny`` or ``watchlist_refer``; ``None`` without one."""
    names = cfg.watchlists if cfg.watchlists is not None else tuple(state.watchlists)
    found: tuple[str, Hit, Candidate] | None = None
    for c in candidates:
        if c.read_confidence < cfg.watch_confidence:
            continue
        for name in names:
            wl = state.watchlists[name]
            for hit in wl.entries.match(c.text, c.kind, wl.config.max_distance):
                deny = wl.config.on_hit == "deny" and hit.distance == 0 and c.confidence >= cfg.deny_confidence
                if deny:
                    return _watch_verdict("watchlist_deny", name, hit, c, candidates)
                found = found or (name, hit, c)
    return _watch_verdict("watchlist_refer", *found, candidates) if found else None


def _watch_verdict(reason: str, name: str, hit: Hit, c: Candidate, candidates: Sequence[Candidate]) -> Verdict:
    summary = {**_best_summary(c), "watchlist_ref": hit.entry.ref or None, "distance": round(hit.distance, 3),
               "match": hit.how}
    claims = {**_claims(candidates), "watchlist": name, "watchlist_ref": hit.entry.ref, "text": c.text}
    return Verdict(reason, c.confidence, summary, claims)


def vehicle(state: SitePlates, cfg: VehicleEvidence, candidates: Sequence[Candidate]) -> Verdict:
    """The plate source's verdict on the plate candidates (best first)."""
    if not candidates:
        return Verdict("no_read", 0.0)
    hit_verdict = watch(state, cfg, candidates)
    if hit_verdict is not None:
        return hit_verdict
    best = candidates[0]
    if not cfg.manifest or state.manifest is None:
        reason = "read" if best.valid and best.confidence >= cfg.pass_confidence else \
            "invalid_format" if not best.valid else "low_confidence"
        return Verdict(reason, best.confidence, _best_summary(best), {**_claims(candidates), "text": best.text})
    max_d = state.section.manifest.max_distance if state.section.manifest else 1.0
    for c in candidates:
        hits = state.manifest.match(c.text, "plate", max_d)
        if hits:
            return _manifest_verdict(c, hits, max_d, cfg.pass_confidence, candidates)
    return Verdict("no_manifest_match", best.confidence, _best_summary(best),
                   {**_claims(candidates), "text": best.text})


def _manifest_verdict(c: Candidate, hits: list[Hit], max_d: float, pass_confidence: float,
                      candidates: Sequence[Candidate]) -> Verdict:
    nearest = hits[0]
    rivals = {h.entry.group for h in hits if h.distance == nearest.distance}
    confidence = (c.confidence if nearest.distance == 0 else c.read_confidence) * (1 - nearest.distance / (max_d + 1))
    if len(rivals) > 1:
        reason = "manifest_ambiguous"
    elif confidence >= pass_confidence:
        reason = "manifest_match"
    else:
        reason = "low_confidence" if nearest.distance == 0 else "manifest_near"
    summary = {**_best_summary(c), "confidence": round(confidence, 6), "manifest_ref": nearest.entry.ref or None,
               "distance": round(nearest.distance, 3), "match": nearest.how}
    claims = {**_claims(candidates), "text": c.text, "manifest_ref": nearest.entry.ref,
              "manifest_line": nearest.entry.group}
    return Verdict(reason, confidence, summary, claims)


def containers(state: SitePlates, cfg: ContainerEvidence, candidates: Sequence[Candidate],
               manifest_line: int | None) -> Verdict:
    """The container source's verdict on the code candidates; ``manifest_line`` is the manifest line the
    plate matched (``None``: any line)."""
    hit_verdict = watch(state, cfg, candidates)
    if hit_verdict is not None:
        return hit_verdict
    expected = None
    if cfg.manifest and state.manifest is not None and manifest_line is not None:
        expected = state.manifest.containers_of(manifest_line)
    sure = [c for c in candidates if c.valid and c.confidence >= cfg.pass_confidence]
    if not candidates:  # none in sight: right only when the plate's manifest line lists none
        return Verdict("manifest_match" if expected == () else "no_read", 1.0 if expected == () else 0.0,
                       {"codes": 0, "missing": 0})
    best = sure[0] if sure else candidates[0]
    summary = {**_best_summary(best), "codes": len(sure)}
    claims = {**_claims(candidates), "codes": [c.text for c in sure]}
    if not sure:
        return Verdict("invalid_format" if not best.valid else "low_confidence", best.confidence, summary, claims)
    if not cfg.manifest or state.manifest is None:
        return Verdict("read", min(c.confidence for c in sure), summary, claims)
    return _codes_verdict(state, sure, expected, summary, claims)


def _codes_verdict(state: SitePlates, sure: list[Candidate], expected: tuple[Entry, ...] | None,
                   summary: dict[str, Any], claims: dict[str, Any]) -> Verdict:
    assert state.manifest is not None
    max_d = state.section.manifest.max_distance if state.section.manifest else 1.0
    matched: set[int] = set()
    refs = []
    for c in sure:
        if expected is not None:
            near = [(e.pattern.distance(c.text, state.costs, max_d), i) for i, e in enumerate(expected)]
            near = [(d, i) for d, i in near if d <= max_d]
            if not near:
                return Verdict("no_manifest_match", c.confidence, summary, claims)
            matched.add(min(near)[1])
            refs.append(expected[min(near)[1]].ref)
        else:
            hits = state.manifest.match(c.text, "container", max_d)
            if not hits:
                return Verdict("no_manifest_match", c.confidence, summary, claims)
            refs.append(hits[0].entry.ref)
    missing = len(expected) - len(matched) if expected is not None else 0
    summary = {**summary, "missing": missing, "manifest_ref": refs[0] or None}
    confidence = min(c.confidence for c in sure)
    return Verdict("container_missing" if missing else "manifest_match", confidence, summary,
                   {**claims, "manifest_refs": refs})
