"""The JSON payloads the IOC receives. Each carries ``schema`` (``gatecore.ioc.KIND/VERSION``); the
JSON Schemas are in ``plugins/gate_ioc/schemas/`` and the tests check every payload against them.

An evidence summary keeps sources, outcomes, scores and timings only: values that are not plain
numbers, booleans or short strings are left out (frames, crops, templates, embeddings), as is any key
that names image or biometric data; document numbers are replaced by a salted hash (HMAC-SHA256), or
left out when the profile gives no salt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from typing import Any

from gatecore.api import Decision, Fault, LaneState, LaneStateChange, new_id

VERSION = 1
KINDS = ("decision", "fault", "state", "heartbeat", "status", "batch")
#: outbox kinds of shared state; their outbox lane is ``shared:NAME`` (one name's updates stay in order)
SHARED_KINDS = ("shared.snapshot", "shared.delta")
SHARED_LANE = "shared:"

_BANNED = ("image", "frame", "jpeg", "jpg", "png", "photo", "portrait", "crop", "face_", "embedding",
           "template", "biometric", "feature", "vector", "fingerprint", "iris", "name", "birth", "dob")
_DOCUMENT = ("document", "doc_no", "doc_number", "passport", "id_number", "card_number", "mrz")
_MAX_TEXT = 64


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


def schema(kind: str) -> str:
    return f"gatecore.ioc.{kind}/{VERSION}"


def encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def salted_hash(value: str, salt: bytes) -> str:
    return "hmac-sha256:" + hmac.new(salt, value.encode(), hashlib.sha256).hexdigest()[:32]


def scrub(summary: Mapping[str, Any], salt: bytes | None) -> dict[str, Any]:
    """Scores and timings of an evidence summary, with nothing that identifies a person."""
    out: dict[str, Any] = {}
    for key, value in summary.items():
        k = str(key).lower()
        if any(word in k for word in _DOCUMENT):
            if salt is not None and isinstance(value, str | int):
                out[str(key)] = salted_hash(str(value), salt)
            continue
        if not any(word in k for word in _BANNED) and _plain(value):
            out[str(key)] = value
    return out


def _plain(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= _MAX_TEXT


def decision(d: Decision, salt: bytes | None) -> dict[str, Any]:
    rec = d.to_record()
    evidence = [
        {
            "source": name,
            "kind": ev["kind"],
            "outcome": ev["outcome"],
            "confidence": ev["confidence"],
            "reason": ev["reason"],
            "elapsed_ms": ev["elapsed_ms"],
            "scores": scrub(ev["summary"], salt),
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
    }


def fault(f: Fault) -> dict[str, Any]:
    rec = f.to_record()
    return {"schema": schema("fault"), **_stamp(rec), "kind": rec["kind"], "message": rec["message"],
            "device": rec["device"], "txn": rec["txn"]}


def state(change: LaneStateChange) -> dict[str, Any]:
    rec = change.to_record()
    return {"schema": schema("state"), **_stamp(rec), "old": rec["old"], "new": rec["new"], "reason": rec["reason"]}


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
