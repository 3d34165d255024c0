"""The records a lane produces: frozen, with stable ids and both clocks.

Records that leave the controller are turned into JSON dicts by ``to_record()``, each with a ``schema``
field; the reporting plugins publish their own JSON Schemas of what they send (``gate_ioc/schemas/``).
"""

from __future__ import annotations

import base64
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from gatecore import privacy
from gatecore.privacy import NOTHING, Reports

SCHEMA_VERSION = 1

#: The kinds of :class:`Fault` the core reports (a fault record with another kind says ``[dropped]``).
FAULT_KINDS = frozenset({
    "device_offline", "timeout", "interrupted", "lane_error", "plugin_failed", "safety", "command_timeout",
    "command_failed", "report_failed", "lane_crashed", "lane_not_built", "plugin_reported",
})

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
    REFERRED = "referred"  # a refer waits for an officer's resolution (``policy.officer_timeout_ms``)
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

    ``outcome`` is the source's own suggestion (``None`` when it has no opinion); ``reason`` says why, as
    a code; ``claims`` carries facts other sources may use (e.g. ``{"identity_ref": "..."}`` from a pass)
    and never leaves the controller; ``summary`` carries scores and timings for the record. ``kind`` is
    set by the core to the source's configured kind. What leaves the controller of ``reason`` and
    ``summary`` is what the kind declares (:class:`gatecore.privacy.Reports`); the rest is dropped.
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

    def to_summary(self, reports: Reports = NOTHING, key: bytes | None = None) -> dict[str, Any]:
        """What of this evidence may leave the controller: its reason if it is one of the declared codes,
        the declared fields of its summary (references hashed with ``key``); never its claims."""
        return {
            "kind": self.kind,
            "outcome": self.outcome.value if self.outcome else None,
            "confidence": round(self.confidence, 4),
            "reason": privacy.code(self.reason, reports.reasons, f"decision.reason/{self.kind}"),
            "elapsed_ms": round(self.elapsed_ms, 3),
            "summary": privacy.summary(self.summary, reports.summary, key, f"decision.summary/{self.kind}"),
        }


@dataclass(frozen=True, slots=True)
class Vote:
    """One decision plugin's vote. ``source`` names the evidence the vote is about, if any; ``voter`` is set
    by the core to the name of the plugin that voted. A vote's ``reason`` leaves the controller only if it
    is one of the reason codes its source's kind declares (else it becomes ``[dropped]``)."""

    voter: str
    outcome: Outcome
    reason: str = ""
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The lane policy's combination of the votes for one transaction, or an officer's resolution of a
    referred one (``officer`` names the officer's account; the votes and evidence are the referral's).
    ``declared`` is what each of the lane's sources may report (by source name), as its kind declares it."""

    stamp: Stamp
    txn_id: str
    outcome: Outcome
    reasons: tuple[str, ...]
    votes: tuple[Vote, ...]
    evidence: Mapping[str, Evidence]
    missing: tuple[str, ...]
    latency_ms: float
    declared: Mapping[str, Reports] = field(default_factory=dict)
    officer: str | None = None

    def to_record(self, key: bytes | None = None) -> dict[str, Any]:
        """The decision as it may leave the controller (:mod:`gatecore.privacy`): references in evidence
        summaries are hashed with ``key``, and left out without one."""
        votes = [recordable_vote(v, self.declared) for v in self.votes]
        return {
            "schema": f"gatecore.decision/{SCHEMA_VERSION}",
            **self.stamp.fields(),
            "txn": self.txn_id,
            "outcome": self.outcome.value,
            "reasons": [privacy.text(r, "decision.reasons") for r in self.reasons],
            "votes": [
                {"voter": v.voter, "outcome": v.outcome.value, "reason": v.reason, "source": v.source}
                for v in votes
            ],
            "evidence": {name: ev.to_summary(self.declared.get(name, NOTHING), key)
                         for name, ev in self.evidence.items()},
            "missing": list(self.missing),
            "latency_ms": round(self.latency_ms, 3),
            "officer": self.officer,
        }


def recordable_vote(vote: Vote, declared: Mapping[str, Reports]) -> Vote:
    """``vote`` as it may leave the controller: its source only if it is one of the lane's sources
    (``declared``), its reason only if it is one of that source's reason codes (else ``[dropped]``)."""
    source = vote.source
    if source is not None and source not in declared:
        privacy.DROPS.add(f"vote.source/{vote.voter}")
        source = None
    reasons = declared[source].reasons if source is not None else frozenset()
    reason = privacy.code(vote.reason, reasons, f"vote.reason/{vote.voter}")
    if (source, reason) == (vote.source, vote.reason):
        return vote
    return Vote(vote.voter, vote.outcome, reason, source)


@dataclass(frozen=True, slots=True)
class Fault:
    """Something went wrong on a lane: a device dropped off, a confirmation never came, a plugin failed.
    ``kind`` is one of :data:`FAULT_KINDS`; ``message`` is composed by the core (:class:`SafeText`: ids,
    type names, where an error was raised, never a plugin's text); ``device`` names the lane's device role
    and ``plugin`` the plugin at fault, when known."""

    stamp: Stamp
    kind: str
    message: str
    device: str | None = None
    txn_id: str | None = None
    plugin: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "schema": f"gatecore.fault/{SCHEMA_VERSION}",
            **self.stamp.fields(),
            "kind": privacy.code(self.kind, FAULT_KINDS, "fault.kind"),
            "message": privacy.text(self.message, "fault.message"),
            "device": self.device,
            "txn": self.txn_id,
            "plugin": self.plugin,
        }


@dataclass(frozen=True, slots=True)
class LaneStateChange:
    """A lane went from ``old`` to ``new``; ``reason`` is composed by the core (:class:`SafeText`);
    ``officer`` names the officer whose action it was (manual mode and back)."""

    stamp: Stamp
    old: LaneState
    new: LaneState
    reason: str = ""
    txn_id: str | None = None
    officer: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "schema": f"gatecore.lane_state/{SCHEMA_VERSION}",
            **self.stamp.fields(),
            "old": self.old.value,
            "new": self.new.value,
            "reason": privacy.text(self.reason, "state.reason"),
            "txn": self.txn_id,
            "officer": self.officer,
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


@dataclass(frozen=True, slots=True)
class PartnerMessage:
    """A message between this site and a partner gate across the border (an IGV hand-over, say).

    ``kind`` is owned by one plugin (``"igv.handover"``), which also owns the schema of ``payload``
    (plain JSON, read-only once made); ``partner`` names the partner site it goes to, or came from
    (``""``: the link's one configured partner). ``site_id`` is the sender's site. Carried by link
    plugins (:func:`gatecore.hookspecs.gatecore_partner_send`), handled by the owner of its kind
    (:func:`gatecore.hookspecs.gatecore_partner_receive`).
    """

    site_id: str
    kind: str
    payload: Mapping[str, Any]
    partner: str = ""
    id: str = field(default_factory=new_id)
    t_wall: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not privacy.is_code(self.kind):
            raise ValueError("a partner message's kind must be a code (lower-case letters, digits and _ . -)")
        from gatecore.checks import plain_json  # checks needs these types: imported when first used

        payload = plain_json(self.payload)
        if not isinstance(payload, Mapping):
            raise ValueError("a partner message's payload must be a map")
        object.__setattr__(self, "payload", payload)

    def to_record(self) -> dict[str, Any]:
        return {"schema": f"gatecore.partner_message/{SCHEMA_VERSION}", "id": self.id, "site": self.site_id,
                "partner": self.partner, "t_wall": self.t_wall, "kind": self.kind,
                "payload": _thawed(self.payload)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PartnerMessage:
        return cls(record["site"], record["kind"], record["payload"], record.get("partner", ""), record["id"],
                   record["t_wall"])


def _thawed(value: Any) -> Any:
    """Frozen plain JSON as ordinary dicts and lists (for an encoder that wants them)."""
    if isinstance(value, Mapping):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thawed(v) for v in value]
    return value


# -- what plugins hand to the core, checked where it enters -----------------------------------------

#: an officer's account id, and the reason code of an officer's action (codes, never free text)
OFFICER_ID = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
REASON_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


_OFFICER_RULE = "officer must be an account id (lower-case letters, digits and . _ @ -, at most 64)"
_REASON_RULE = "reason must be a code (a lower-case letter, then letters, digits or _, at most 40)"


def officer_problem(officer: object, reason: object) -> str | None:
    """Why an officer's action names no valid account or reason code, or ``None``."""
    if not _matches(OFFICER_ID, officer):
        return _OFFICER_RULE
    return None if _matches(REASON_CODE, reason) else _REASON_RULE


#: What an officers' console records of its own (the officers' decisions and manual mode are the lanes'
#: records): a login, a failed one, an account locked out or unlocked, a logout, a fault acknowledged, an
#: action refused (no permission, no CSRF token, the lane said no).
OFFICER_EVENT_KINDS = frozenset({
    "login", "login_failed", "locked_out", "unlocked", "logout", "fault_acknowledged", "action_refused",
})
_RECORD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class OfficerEvent:
    """Something done at an officers' console that no lane records: ``kind`` is one of
    :data:`OFFICER_EVENT_KINDS`; ``officer`` names the account (``None`` when the name given is no account:
    what was typed never leaves); ``reason`` is a code; ``ref`` the id of the record it is about (the fault
    acknowledged). ``stamp.lane_id`` is the lane it is about, or ``""`` for the whole site (a login)."""

    stamp: Stamp
    kind: str
    officer: str | None = None
    reason: str = ""
    ref: str | None = None

    def problem(self) -> str | None:
        """Why this event cannot be recorded as it is, or ``None``."""
        if self.kind not in OFFICER_EVENT_KINDS:
            return f"kind must be one of {', '.join(sorted(OFFICER_EVENT_KINDS))}"
        if self.officer is not None and not _matches(OFFICER_ID, self.officer):
            return f"{_OFFICER_RULE} or None"
        if self.reason and not _matches(REASON_CODE, self.reason):
            return _REASON_RULE
        if self.ref is not None and not _matches(_RECORD_ID, self.ref):
            return "ref must be a record id"
        return None

    def to_record(self) -> dict[str, Any]:
        """The event as it may leave the controller: a field that is not what it must be is left out."""
        officer = self.officer if self.officer is None or _matches(OFFICER_ID, self.officer) else None
        reason = self.reason if not self.reason or _matches(REASON_CODE, self.reason) else privacy.DROPPED
        ref = self.ref if self.ref is None or _matches(_RECORD_ID, self.ref) else None
        if (officer, reason, ref) != (self.officer, self.reason, self.ref):
            privacy.DROPS.add("officer_event")
        return {
            "schema": f"gatecore.officer_event/{SCHEMA_VERSION}",
            **self.stamp.fields(),
            "kind": privacy.code(self.kind, OFFICER_EVENT_KINDS, "officer_event.kind"),
            "officer": officer,
            "reason": reason,
            "ref": ref,
        }


def _matches(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None
