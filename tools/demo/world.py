"""Who arrives at each e-gate, what they carry, and what the lane should decide about them (the truth)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

#: the share of each kind of traveller; the rest carry a valid pass and an enrolled face
PASS_KINDS = {"expired": 0.05, "forged": 0.05, "replayed": 0.04, "none": 0.04}
FACE_KINDS = {"not_enrolled": 0.05, "watchlisted": 0.04}
#: replayers stand this far back in their lane's line, the travellers whose pass they carry this far forward,
#: so that the original crossing is long decided when the replay comes
REPLAY_FROM, ORIGINAL_BEFORE = 40, 20


@dataclass
class Traveller:
    id: str          # the pass subject and gallery id: an opaque reference, never a name
    face_id: int     # the drawn face (gate_face.testing.draw_face identity)
    pass_kind: str   # valid | expired | forged | replayed | none
    face: str        # enrolled | not_enrolled | watchlisted
    expect: list[str] = field(default_factory=list)
    why: str = ""
    pass_of: str | None = None  # replayed: whose pass is carried
    pass_text: str | None = None
    frames: dict[str, str] = field(default_factory=dict)

    def record(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "", {}, [])}


def truth(pass_kind: str, face: str) -> tuple[list[str], str]:
    """What the lane should decide, and why (the lane policy: any DENY wins, then any REFER)."""
    if face == "watchlisted":
        return ["deny"], "face on the watchlist"
    if pass_kind == "expired":
        return ["deny"], "expired pass"
    if pass_kind == "forged":
        return ["deny", "refer"], "forged pass"
    if pass_kind == "none":
        return ["refer"], "no pass"
    if pass_kind == "replayed":
        return ["refer"], "pass of another traveller, used at another lane"
    if face == "not_enrolled":
        return ["refer"], "face not enrolled"
    return ["pass"], "valid pass, enrolled face"


def _draw(rng: random.Random, kinds: Mapping[str, float], default: str, allowed: Sequence[str]) -> str:
    r, acc = rng.random(), 0.0
    for kind, share in kinds.items():
        acc += share
        if r < acc:
            return kind if kind in allowed else default
    return default


def people(seed: int, lanes: Mapping[str, bool], per_lane: int) -> dict[str, list[Traveller]]:
    """``per_lane`` travellers for each lane (``lanes``: lane id -> whether it can start without a pass,
    i.e. whether a traveller with none can step up), deterministic from ``seed``."""
    rng = random.Random(f"demo-world/{seed}")
    out: dict[str, list[Traveller]] = {}
    n = 0
    for lane, camera in lanes.items():
        line = []
        for k in range(per_lane):
            n += 1
            kinds = [*PASS_KINDS] if camera else [p for p in PASS_KINDS if p != "none"]
            pass_kind = _draw(rng, PASS_KINDS, "valid", kinds if k >= REPLAY_FROM else
                              [p for p in kinds if p != "replayed"])
            face = _draw(rng, FACE_KINDS, "enrolled", list(FACE_KINDS))
            if pass_kind == "replayed":
                face = "enrolled"  # a replayer is enrolled as himself, not as the pass's holder
            line.append(Traveller(f"demo-{seed}-{n:05d}", seed * 100_000 + n, pass_kind, face))
        out[lane] = line
    _replays(rng, out)
    for line in out.values():
        for t in line:
            t.expect, t.why = truth(t.pass_kind, t.face)
    return out


def _replays(rng: random.Random, lines: dict[str, list[Traveller]]) -> None:
    """Each replayer carries the pass of a valid traveller near the front of another lane's line."""
    for lane, line in lines.items():
        others = [t for other, l2 in lines.items() if other != lane for t in l2[:ORIGINAL_BEFORE]
                  if t.pass_kind == "valid" and t.face == "enrolled"]
        for t in line:
            if t.pass_kind == "replayed":
                if others:
                    t.pass_of = rng.choice(others).id
                else:
                    t.pass_kind = "valid"
