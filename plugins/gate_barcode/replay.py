"""Replay across lanes: a pass accepted at one lane of a group is refused at its other lanes for a window.

The guard keys on the pass id hash (``passes.id_hash`` of the ``cti``): never on the text, the
signature or any other part of the encoding, and never the ``cti`` itself. Only an accepted use
(a PASS decision) is recorded; while a crossing is being decided its pass is *held*, so that the same
pass cannot be accepted at two lanes at once. Uses are kept in a small SQLite file (:class:`UseStore`)
and travel between the controllers of a crossing as shared state (:func:`encode`, :func:`decode`).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: how long a pass stays held by a crossing whose decision never came (a lane that faulted meanwhile)
HOLD_S = 60.0
#: a use time further ahead of this controller's clock than this is not taken from another controller
FUTURE_S = 60.0
SCHEMA = "gate_barcode.pass_uses/1"


@dataclass(frozen=True)
class Place:
    """Where a pass was used: a lane of one controller (site id), in a replay group of the crossing."""

    site: str
    lane: str
    group: str

    def elsewhere_in_group(self, other: Place) -> bool:
        return other.group == self.group and (other.site, other.lane) != (self.site, self.lane)


@dataclass(frozen=True)
class Use:
    """A pass (by its id hash) accepted at ``place`` at ``t`` (wall-clock seconds)."""

    key: str
    place: Place
    t: float


@dataclass
class ReplayGuard:
    """Accepted uses and pending holds of one crossing; times are wall-clock seconds given by the caller."""

    window_s: float = 300.0
    hold_s: float = HOLD_S
    max_entries: int = 100_000
    uses: dict[str, dict[Place, float]] = field(default_factory=dict)
    holds: dict[str, Use] = field(default_factory=dict)  # txn id -> the pass it holds

    def claim(self, txn: str, key: str, place: Place, now: float) -> bool:
        """True if the pass is a replay at ``place``; else the crossing ``txn`` holds it until :meth:`release`."""
        self.holds = {t: h for t, h in self.holds.items()
                      if now - h.t <= self.hold_s and h.place != place}  # a lane decides one crossing at a time
        used = self.uses.get(key, {})
        if any(place.elsewhere_in_group(p) and now - t <= self.window_s for p, t in used.items()) or any(
                h.key == key and place.elsewhere_in_group(h.place) for h in self.holds.values()):
            return True
        self.holds[txn] = Use(key, place, now)
        return False

    def release(self, txn: str) -> None:
        """The crossing ``txn`` is decided: its hold ends (whatever the outcome)."""
        self.holds.pop(txn, None)

    def accept(self, use: Use, now: float) -> bool:
        """Record an accepted use; False when it adds nothing (older than one held, or out of the window)."""
        if not (now - self.window_s < use.t <= now + FUTURE_S):
            return False
        at = self.uses.setdefault(use.key, {})
        if at.get(use.place, -math.inf) >= use.t:
            return False
        at[use.place] = use.t
        if sum(len(v) for v in self.uses.values()) > self.max_entries:
            self.prune(now)
        return True

    def prune(self, now: float) -> None:
        kept = {k: {p: t for p, t in at.items() if now - t <= self.window_s} for k, at in self.uses.items()}
        self.uses = {k: at for k, at in kept.items() if at}

    def recent(self, now: float, site: str | None = None) -> list[Use]:
        """The uses within the window (made at controller ``site`` only, if given)."""
        return [Use(k, p, t) for k, at in self.uses.items() for p, t in at.items()
                if now - t <= self.window_s and (site is None or p.site == site)]


class UseStore:
    """The guard's uses on disk (SQLite, WAL): only the id hash, the place and the time of each.

    Its methods block: the caller runs them in an executor of one thread (or before the site runs).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # survives a crash of the process; see docs
        self.db.execute("CREATE TABLE IF NOT EXISTS pass_uses (key TEXT NOT NULL, site TEXT NOT NULL, "
                        "lane TEXT NOT NULL, grp TEXT NOT NULL, t REAL NOT NULL, PRIMARY KEY (key, site, lane))")

    def load(self, since: float) -> list[Use]:
        rows = self.db.execute("SELECT key, site, lane, grp, t FROM pass_uses WHERE t > ?", (since,))
        return [Use(key, Place(site, lane, grp), t) for key, site, lane, grp, t in rows]

    def put(self, uses: Sequence[Use]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT INTO pass_uses VALUES (?, ?, ?, ?, ?) ON CONFLICT (key, site, lane) "
                "DO UPDATE SET grp = excluded.grp, t = max(t, excluded.t)",
                [(u.key, u.place.site, u.place.lane, u.place.group, u.t) for u in uses])

    def prune(self, before: float) -> None:
        with self.db:
            self.db.execute("DELETE FROM pass_uses WHERE t <= ?", (before,))

    def close(self) -> None:
        self.db.close()


# ---------------------------------------------------------------- between controllers

class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=r"^[0-9a-f]{16}$")
    lane: str = Field(min_length=1, max_length=128)
    group: str = Field(min_length=1, max_length=64)
    t: float = Field(allow_inf_nan=False)


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_: str = Field(alias="schema", pattern=f"^{SCHEMA}$")
    uses: list[_Entry] = Field(max_length=1_000_000)


def encode(uses: Iterable[Use]) -> bytes:
    """The shared-state payload of uses made at one controller (the update's site id names it)."""
    payload = _Payload.model_validate({"schema": SCHEMA, "uses": [
        {"key": u.key, "lane": u.place.lane, "group": u.place.group, "t": u.t} for u in uses]})
    return payload.model_dump_json(by_alias=True).encode()


def decode(payload: bytes, site: str) -> list[Use]:
    """The uses in a payload made at controller ``site``; ValueError when it is not one."""
    try:
        parsed = _Payload.model_validate_json(payload)
    except ValidationError as exc:
        raise ValueError(f"not a {SCHEMA} payload ({exc.error_count()} errors)") from None
    return [Use(e.key, Place(site, e.lane, e.group), e.t) for e in parsed.uses]
