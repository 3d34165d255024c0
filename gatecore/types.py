"""The records a lane produces: frozen, with stable ids and both clocks.

Records that leave the controller are turned into JSON dicts by ``to_record()``; each carries a
``schema`` field whose JSON Schema lives in ``gatecore/schemas/``.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

SCHEMA_VERSION = 1

_uuid7_lock = threading.Lock()
_uuid7_last = 0


def new_id() -> str:
    """A UUIDv7 (RFC 9562) as a string: time-ordered, unique within this process even at the same ms."""
    global _uuid7_last
    rand = int.from_bytes(os.urandom(9), "big")  # 62 random bits, and 8 to start the sub-ms counter
    with _uuid7_lock:
        # ms timestamp and a 12-bit sub-ms counter: ids strictly increase within a process
        candidate = ((time.time_ns() // 1_000_000) << 12) | (rand >> 64)
        if candidate <= _uuid7_last:
            candidate = _uuid7_last + 1
        _uuid7_last = candidate
    value = ((candidate >> 12) << 80) | (0x7 << 76) | ((candidate & 0xFFF) << 64) | (0b10 << 62) \
        | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _frozen_map(data: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only copy; a read-only view is kept as it is (a record copied with one field changed
    shares its maps instead of copying them again)."""
    return data if type(data) is MappingProxyType else MappingProxyType(dict(data or {}))


class Outcome(StrEnum):
    """A verdict. ``PASS`` opens the barrier, ``DENY`` refuses, ``REFER`` sends the case to an officer."""

    PASS = "pass"
    DENY = "deny"
    REFER = "refer"


class LaneState(StrEnum):
    IDLE = "idle"
    COLLECTING = "collecting"
    DECIDING = "deciding"
    ACTUATING = "actuating"
    CLEARING = "clearing"
    DEGRADED = "degraded"
    MANUAL = "manual"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Stamp:
    """Where and when a record was made."""

    site_id: str
    lane_id: str
    id: str = field(default_factory=new_id)
    t_wall: float = field(default_factory=time.time)
    t_mono: float = field(default_factory=time.monotonic)

    def fields(self) -> dict[str, Any]:
        return {"id": self.id, "site": self.site_id, "lane": self.lane_id, "t_wall": self.t_wall}


@dataclass(frozen=True, slots=True)
class Observation:
    """Something a device saw, before any interpretation: a frame, a scan, a manifest.

    ``payload`` is opaque to the core (a numpy frame, bytes, a dict); ``kind`` tells plugins what it is
    (e.g. ``"frame"``, ``"scan"``, ``"manifest"``). Observations never leave the controller.
    """

    kind: str
    role: str
    payload: Any
    t_mono: float = field(default_factory=time.monotonic)
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one source concluded for a transaction.

    ``outcome`` is the source's own suggestion (``None`` when it has no opinion); ``claims`` carries facts
    other sources may use (e.g. ``{"identity_ref": "..."}`` from a pass); ``summary`` carries scores and
    timings for the record. Neither may hold names, document numbers, images or biometric templates.
    """

    source: str
    kind: str
    outcome: Outcome | None
    confidence: float = 1.0
    reason: str = ""
    claims: Mapping[str, Any] = field(default_factory=dict)
    summary: Mapping[str, Any] = field(default_factory=dict)
    elapsed_ms: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "claims", _frozen_map(self.claims))
        object.__setattr__(self, "summary", _frozen_map(self.summary))

    def to_summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "outcome": self.outcome.value if self.outcome else None,
            "confidence": round(self.confidence, 4),
            "reason": self.reason,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "summary": dict(self.summary),
        }


@dataclass(frozen=True, slots=True)
class Vote:
    """One decision plugin's vote. ``source`` names the evidence the vote is about, if any."""

    voter: str
    outcome: Outcome
    reason: str = ""
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The lane policy's combination of the votes for one transaction."""

    stamp: Stamp
    txn_id: str
    outcome: Outcome
    reasons: tuple[str, ...]
    votes: tuple[Vote, ...]
    evidence: Mapping[str, Evidence]
    missing: tuple[str, ...]
    latency_ms: float

    def to_record(self) -> dict[str, Any]:
        return {
            "schema": f"gatecore.decision/{SCHEMA_VERSION}",
            **self.stamp.fields(),
            "txn": self.txn_id,
            "outcome": self.outcome.value,
            "reasons": list(self.reasons),
            "votes": [
                {"voter": v.voter, "outcome": v.outcome.value, "reason": v.reason, "source": v.source}
                for v in self.votes
            ],
            "evidence": {name: ev.to_summary() for name, ev in self.evidence.items()},
            "missing": list(self.missing),
            "latency_ms": round(self.latency_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class Fault:
    """Something went wrong on a lane: a device dropped off, a confirmation never came, a hook failed."""

    stamp: Stamp
    kind: str
    message: str
    device: str | None = None
    txn_id: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "schema": f"gatecore.fault/{SCHEMA_VERSION}",
            **self.stamp.fields(),
            "kind": self.kind,
            "message": self.message,
            "device": self.device,
            "txn": self.txn_id,
        }


@dataclass(frozen=True, slots=True)
class LaneStateChange:
    stamp: Stamp
    old: LaneState
    new: LaneState
    reason: str = ""
    txn_id: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "schema": f"gatecore.lane_state/{SCHEMA_VERSION}",
            **self.stamp.fields(),
            "old": self.old.value,
            "new": self.new.value,
            "reason": self.reason,
            "txn": self.txn_id,
        }


@dataclass(frozen=True, slots=True)
class SharedState:
    """A versioned piece of state shared between controllers (a face gallery, a watchlist...).

    ``kind`` is ``"snapshot"`` (the whole state at ``version``) or ``"delta"`` (what takes a holder from
    ``base_version`` to ``version``). ``name`` is owned by one plugin (``"gate_face/watchlist"``);
    ``payload`` is that plugin's encoding. Carried by transport plugins, applied by the owner.
    """

    site_id: str
    name: str
    kind: str
    base_version: int
    version: int
    payload: bytes
    id: str = field(default_factory=new_id)
    t_wall: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.kind not in ("snapshot", "delta"):
            raise ValueError(f"shared state kind must be 'snapshot' or 'delta', not {self.kind!r}")

    def to_record(self) -> dict[str, Any]:
        return {
            "schema": f"gatecore.shared_state/{SCHEMA_VERSION}",
            "id": self.id, "site": self.site_id, "t_wall": self.t_wall, "name": self.name,
            "kind": self.kind, "base_version": self.base_version, "version": self.version,
            "payload": base64.b64encode(self.payload).decode("ascii"),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SharedState:
        return cls(record["site"], record["name"], record["kind"], int(record["base_version"]),
                   int(record["version"]), base64.b64decode(record["payload"]), record["id"], record["t_wall"])
