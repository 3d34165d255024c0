"""The JSON payloads the IOC receives. Each carries ``schema`` (``gatecore.ioc.KIND/VERSION``); the
JSON Schemas are in ``plugins/gate_ioc/schemas/`` and the tests check every payload against them.

What a record carries is what the core lets leave the controller (:mod:`gatecore.privacy`): an
evidence summary keeps the fields its kind declares (numbers, booleans, codes), references as
HMAC-SHA256 keyed with the profile's ``doc_salt`` (left out without one), reasons only as declared
codes, fault messages and state reasons only in the core's own words; everything else is left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gatecore.api import Decision, Fault, LaneState, LaneStateChange, OfficerEvent, new_id

VERSION = 1
KINDS = ("decision", "fault", "state", "officer", "heartbeat", "status", "batch", "ack")
#: the kinds the outbox numbers per lane (``seq``, ``stream``) and the IOC acknowledges; heartbeats are
#: telemetry that the outbox may drop, so they carry no number (a dropped one would be a gap for ever)
SEQUENCED = ("decision", "fault", "state", "officer")
#: the lane of an officer event about the whole site (a login): no lane id can be it (they start with a
#: letter or a digit), so its numbering and topic (``{prefix}/{site}/_site/officer``) are its own
SITE_LANE = "_site"
#: outbox kinds of shared state; their outbox lane is ``shared:NAME`` (one name's updates stay in order)
SHARED_KINDS = ("shared.snapshot", "shared.delta")
SHARED_LANE = "shared:"


def topic_segment(name: str) -> str:
    """An id as one topic level: ``/`` becomes ``.``, wildcards and NUL become ``_``."""
    return name.replace("/", ".").replace("+", "_").replace("#", "_").replace("\0", "_") or "_"


def site_topic(prefix: str, site: str) -> str:
    """``{prefix}/{site}``: lanes publish below it (``/{lane}/{kind}``), the status is ``/status``."""
    return f"{prefix.rstrip('/')}/{topic_segment(site)}"


def shared_topic(prefix: str, name: str) -> str:
    """``{prefix}/shared/{name}``: shared state between controllers (not below a site: all may read it)."""
    return f"{prefix.rstrip('/')}/shared/{topic_segment(name)}"


def shared_filter(prefix: str) -> str:
    """The subscription to every :func:`shared_topic`."""
    return f"{prefix.rstrip('/')}/shared/#"


def ack_topic(site_topic: str, lane: str) -> str:
    """Where the IOC acknowledges ``lane`` (retained): ``{prefix}/{site}/{lane}/ack``."""
    return f"{site_topic}/{topic_segment(lane)}/ack"


def numbered(payload: bytes, stream: str, seq: int) -> bytes:
    """A record's JSON object with its lane number added (the outbox numbers records after they are made)."""
    return b'%s,"stream":"%s","seq":%d}' % (payload.rstrip()[:-1], stream.encode(), seq)


def ack(site: str, lane: str, stream: str, seq: int, t_wall: float) -> dict[str, Any]:
    return {"schema": schema("ack"), "site": site, "lane": lane, "stream": stream, "seq": seq, "t_wall": t_wall}


class Ack(BaseModel):
    """A ``gatecore.ioc.ack/1`` message (``schemas/ack-1.json``), checked as it arrives."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)
    schema_: Literal["gatecore.ioc.ack/1"] = Field(alias="schema")
    site: str = Field(min_length=1, max_length=64)
    lane: str = Field(min_length=1, max_length=64)
    stream: str = Field(pattern="^[0-9a-f]{16}$")
    seq: int = Field(ge=0)
    t_wall: float = Field(ge=0)


def schema(kind: str) -> str:
    return f"gatecore.ioc.{kind}/{VERSION}"


def encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def decision(d: Decision, salt: bytes | None) -> dict[str, Any]:
    """The decision as the IOC receives it; references keyed with ``salt`` (the profile's ``doc_salt``)."""
    rec = d.to_record(salt)
    evidence = [
        {
            "source": name,
            "kind": ev["kind"],
            "outcome": ev["outcome"],
            "confidence": ev["confidence"],
            "reason": ev["reason"],
            "elapsed_ms": ev["elapsed_ms"],
            "scores": ev["summary"],
        }
        for name, ev in rec["evidence"].items()
    ]
    return {
        "schema": schema("decision"),
        **_stamp(rec),
        "txn": rec["txn"],
        "outcome": rec["outcome"],
        "reasons": rec["reasons"],
        "votes": rec["votes"],
        "evidence": evidence,
        "missing": rec["missing"],
        "latency_ms": rec["latency_ms"],
        **({"officer": rec["officer"]} if rec["officer"] else {}),
    }


def fault(f: Fault) -> dict[str, Any]:
    rec = f.to_record()
    return {"schema": schema("fault"), **_stamp(rec), "kind": rec["kind"], "message": rec["message"],
            "device": rec["device"], "plugin": rec["plugin"], "txn": rec["txn"]}


def state(change: LaneStateChange) -> dict[str, Any]:
    rec = change.to_record()
    return {"schema": schema("state"), **_stamp(rec), "old": rec["old"], "new": rec["new"], "reason": rec["reason"],
            **({"officer": rec["officer"]} if rec["officer"] else {})}


def officer(event: OfficerEvent) -> dict[str, Any]:
    """What an officers' console did of its own (a login, a fault acknowledged); the site's, under
    :data:`SITE_LANE`, when it is about no lane."""
    rec = event.to_record()
    return {"schema": schema("officer"), **_stamp(rec), "lane": officer_lane(event), "kind": rec["kind"],
            "officer": rec["officer"], "reason": rec["reason"], "ref": rec["ref"]}


def officer_lane(event: OfficerEvent) -> str:
    return event.stamp.lane_id or SITE_LANE


def heartbeat(site: str, lane: str, lane_state: LaneState, t_wall: float, uptime_s: float,
              crossings: int, faults: int, pending: int, oldest_pending_s: float | None) -> dict[str, Any]:
    healthy = lane_state not in (LaneState.DEGRADED, LaneState.MANUAL, LaneState.STOPPED)
    return {
        "schema": schema("heartbeat"), "id": new_id(), "site": site, "lane": lane, "t_wall": t_wall,
        "state": lane_state.value, "healthy": healthy, "uptime_s": round(uptime_s, 3),
        "crossings": crossings, "faults": faults,
        "outbox": {"pending": pending, "oldest_pending_s": None if oldest_pending_s is None
                   else round(oldest_pending_s, 3)},
    }


def status(site: str, online: bool, t_wall: float) -> dict[str, Any]:
    return {"schema": schema("status"), "site": site, "online": online, "t_wall": t_wall}


def _stamp(rec: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": rec["id"], "site": rec["site"], "lane": rec["lane"], "t_wall": rec["t_wall"]}
