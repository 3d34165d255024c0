"""What the page shows - lane tiles, the referral queue, open faults, the event history - kept up to date
from the core's reports and pushed to every browser as server-sent events.

The report hooks only note the record (they are on the lanes' way: a decision is reported before the
barrier moves); the records are turned into what the page shows at most once per ``push_interval_ms``,
encoded once, and the same bytes go to every browser. Everything shown is what the core lets leave the
controller (``to_record()``: reasons as codes, evidence summaries as declared, references left out).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any

from gatecore.api import Decision, Fault, LaneState, LaneStateChange, LaneView, OfficerEvent, SiteView

from .config import ConsoleSection
from .sessions import Session

Record = Decision | Fault | LaneStateChange | OfficerEvent
#: state changes into or out of these go into the history (the tiles show every state)
NOTABLE = frozenset({LaneState.REFERRED, LaneState.DEGRADED, LaneState.MANUAL})
OPEN_FAULTS = 200
QUEUE = 64


def sse(payload: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload, separators=(',', ':'), allow_nan=False)}\n\n".encode()


class Subscriber:
    """One browser's stream: frames to send, ``None`` to end it (it reconnects and gets a snapshot)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE)

    def push(self, frame: bytes | None) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:  # too slow a reader: start it again from a snapshot
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class Hub:
    def __init__(self, site: SiteView, cfg: ConsoleSection) -> None:
        self.site, self.cfg = site, cfg
        self.events: deque[dict[str, Any]] = deque(maxlen=cfg.history)
        self.faults: OrderedDict[str, dict[str, Any]] = OrderedDict()  # open (not acknowledged), by id
        self.changed_at: dict[str, float] = {}  # the time of each lane's latest state change
        self.last: dict[str, dict[str, Any]] = {}
        self.subscribers: set[Subscriber] = set()
        self._pending: list[Record] = []
        self._dirty: set[str] = set()
        self._new: list[dict[str, Any]] = []
        self._queue_changed = self._faults_changed = False
        self._referrals: dict[str, dict[str, Any]] = {}  # by txn, made once
        self._handle: asyncio.TimerHandle | None = None
        self._last_push = 0.0

    # -- fed by the report hooks (quick: they are on the lanes' way) ----------------------------
    def report(self, record: Record) -> None:
        self._pending.append(record)
        self._schedule()

    def _schedule(self) -> None:
        if self._handle is None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, self._last_push + self.cfg.push_interval_ms / 1000 - loop.time())
            self._handle = loop.call_later(delay, self.flush)

    def flush(self) -> None:
        """Take in what was reported, and push what changed to every browser (one encoding for all)."""
        self._handle = None
        self._last_push = asyncio.get_running_loop().time()
        pending, self._pending = self._pending, []
        for record in pending:
            self._take(record)
        delta = self._delta()
        if delta is not None and self.subscribers:
            frame = sse(delta)
            for subscriber in list(self.subscribers):
                subscriber.push(frame)

    def _take(self, record: Record) -> None:
        lane = record.stamp.lane_id
        entry: dict[str, Any] | None = None
        if isinstance(record, LaneStateChange):
            self.changed_at[lane] = record.stamp.t_wall
            self._queue_changed |= LaneState.REFERRED in (record.old, record.new)
            if {record.old, record.new} & NOTABLE:
                rec = record.to_record()
                entry = {"kind": "state", "old": rec["old"], "new": rec["new"], "reason": rec["reason"],
                         "officer": rec["officer"], "txn": rec["txn"]}
        elif isinstance(record, Decision):
            rec = record.to_record()
            entry = {"kind": "decision", "outcome": rec["outcome"], "latency_ms": rec["latency_ms"],
                     "txn": rec["txn"], "reasons": rec["reasons"], "missing": rec["missing"],
                     "officer": rec["officer"]}
            self.last[lane] = {**entry, "t_wall": rec["t_wall"]}
        elif isinstance(record, Fault):
            rec = record.to_record()
            entry = {"kind": "fault", "fault": rec["kind"], "message": rec["message"], "device": rec["device"],
                     "plugin": rec["plugin"], "txn": rec["txn"]}
            self.faults[record.stamp.id] = {"id": record.stamp.id, "lane": lane, "t_wall": rec["t_wall"], **entry}
            while len(self.faults) > OPEN_FAULTS:
                self.faults.popitem(last=False)
            self._faults_changed = True
        else:
            rec = record.to_record()
            entry = {"kind": "officer", "event": rec["kind"], "officer": rec["officer"], "reason": rec["reason"],
                     "ref": rec["ref"]}
        if lane in self.site.lanes:
            self._dirty.add(lane)
        if entry is not None:
            entry = {"id": record.stamp.id, "t_wall": record.stamp.t_wall, "lane": lane or None, **entry}
            self.events.append(entry)
            self._new.append(entry)

    def _delta(self) -> dict[str, Any] | None:
        if not (self._dirty or self._new or self._queue_changed or self._faults_changed):
            return None
        delta: dict[str, Any] = {"type": "delta", "t_wall": time.time(),
                                 "lanes": {lane_id: self.tile(lane_id) for lane_id in sorted(self._dirty)},
                                 "events": self._new}
        if self._queue_changed:
            delta["referrals"] = self.referrals()
        if self._faults_changed:
            delta["faults"] = list(self.faults.values())
        self._dirty, self._new, self._queue_changed, self._faults_changed = set(), [], False, False
        return delta

    # -- what the page shows ------------------------------------------------------------------
    def snapshot(self, session: Session) -> dict[str, Any]:
        return {"type": "snapshot", "t_wall": time.time(), "site": self.site.id,
                "me": {"account": session.account, "role": session.role}, "reasons": self.cfg.reasons(),
                "lanes": {lane_id: self.tile(lane_id) for lane_id in self.site.lanes},
                "referrals": self.referrals(), "faults": list(self.faults.values()), "events": list(self.events)}

    def tile(self, lane_id: str) -> dict[str, Any]:
        lane = self.site.lanes[lane_id]
        referral = lane.referral
        return {"id": lane_id, "flow": lane.config.flow, "state": lane.state.value,
                "changed_at": self.changed_at.get(lane_id), "crossings": lane.crossings,
                "decisions": dict(lane.decisions), "faults": lane.faults,
                "open_faults": sum(1 for f in self.faults.values() if f["lane"] == lane_id),
                "devices": {role: bool(device.online) for role, device in lane.devices.items()},
                "last": self.last.get(lane_id), "referral": referral.txn_id if referral is not None else None}

    def referrals(self) -> list[dict[str, Any]]:
        """The crossings waiting for an officer, oldest first, each with its evidence summary."""
        waiting = {}
        for lane in self.site.lanes.values():
            referral = lane.referral
            if referral is not None and lane.state is LaneState.REFERRED:
                waiting[referral.txn_id] = self._referrals.get(referral.txn_id) or _referral(lane, referral)
        self._referrals = waiting
        return sorted(waiting.values(), key=lambda r: r["t_wall"])

    def history(self, lane: str | None = None, kind: str | None = None, outcome: str | None = None,
                limit: int = 100) -> list[dict[str, Any]]:
        """The latest events, newest last, of ``lane``, ``kind`` and (decisions) ``outcome`` when given."""
        chosen = [e for e in self.events if (lane is None or e["lane"] == lane) and (kind is None or e["kind"] == kind)
                  and (outcome is None or e.get("outcome") == outcome)]
        return chosen[-limit:]

    def acknowledge(self, fault_id: str) -> dict[str, Any] | None:
        """The open fault ``fault_id``, now acknowledged (off the list), or ``None``."""
        fault = self.faults.pop(fault_id, None)
        if fault is not None:
            self._faults_changed = True
            self._dirty.add(fault["lane"])
            self._schedule()
        return fault

    # -- browsers -----------------------------------------------------------------------------
    def subscribe(self, session: Session) -> Subscriber:
        subscriber = Subscriber(session)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def end(self, sessions: Iterable[Session] | None = None) -> None:
        """End the streams of ``sessions`` (all when ``None``): logout, shutdown."""
        ending = None if sessions is None else {s.token for s in sessions}
        for subscriber in list(self.subscribers):
            if ending is None or subscriber.session.token in ending:
                subscriber.push(None)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.end()


def _referral(lane: LaneView, referral: Decision) -> dict[str, Any]:
    rec = referral.to_record()  # no key: references (a pass, a document) are left out
    evidence = [{"source": name, **{k: ev[k] for k in ("kind", "outcome", "confidence", "reason", "elapsed_ms")},
                 "summary": ev["summary"]} for name, ev in rec["evidence"].items()]
    return {"lane": lane.id, "txn": rec["txn"], "t_wall": rec["t_wall"], "reasons": rec["reasons"],
            "missing": rec["missing"], "latency_ms": rec["latency_ms"], "evidence": evidence,
            "votes": rec["votes"], "deadline": rec["t_wall"] + lane.config.policy.officer_timeout_ms / 1000}
