"""The VDA 5050 versions this plugin speaks (2.0.0, 2.1.0, 3.0.0) and what differs between them: topics,
schema files, timestamp precision, enumerations, and the predefined actions with their parameters and
scopes (the "Actions and Parameters" tables of each version's text; 2.0's is 2.1's without the map
actions 2.1 added). Only this module and :mod:`gate_igv.wire` know the differences.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

ParamType = Literal["string", "number", "array"]


@dataclass(frozen=True, slots=True)
class Param:
    type: ParamType
    required: bool = False


@dataclass(frozen=True, slots=True)
class ActionSpec:
    scopes: frozenset[str]  # "instant", "node", "edge", "zone"
    params: Mapping[str, Param]


@dataclass(frozen=True, slots=True)
class Version:
    """One version of the protocol as the wire sees it."""

    full: str  # "2.1.0": the header's version field
    topics: frozenset[str]
    timestamp_digits: int  # fractional second digits in a header timestamp
    broken: str  # the connectionState of a last will
    blocking: frozenset[str]
    actions: Mapping[str, ActionSpec]

    @property
    def major(self) -> str:
        """The topic level: ``v2``, ``v3``."""
        return "v" + self.full.split(".", 1)[0]

    def schema_file(self, topic: str) -> str:
        return "factsheet.json" if (self.full, topic) == ("2.0.0", "factsheet") else f"{topic}.schema"

    def qos(self, topic: str) -> int:
        """QoS 1 for ``connection``, 0 for every other topic (section 6.2 of 2.x, 4.1 of 3.0)."""
        return 1 if topic == "connection" else 0


S, N, A = Param("string"), Param("number"), Param("array")
S_REQ, N_REQ = Param("string", True), Param("number", True)
_NONE: Mapping[str, Param] = MappingProxyType({})
_INSTANT, _NODE, _EDGE, _ZONE = "instant", "node", "edge", "zone"


def _spec(scopes: str, **params: Param) -> ActionSpec:
    names = {"i": _INSTANT, "n": _NODE, "e": _EDGE, "z": _ZONE}
    return ActionSpec(frozenset(names[c] for c in scopes), MappingProxyType(params) if params else _NONE)


_POSITION = {"x": N_REQ, "y": N_REQ, "theta": N_REQ, "mapId": S_REQ, "lastNodeId": S_REQ}
_LOAD = {"lhd": S, "stationType": S, "stationName": S, "loadType": S, "loadId": S, "height": N, "depth": N, "side": S}
_MAP = {"mapId": S_REQ, "mapVersion": S_REQ}

_V20 = {
    "startPause": _spec("i"), "stopPause": _spec("i"),
    "startCharging": _spec("in"), "stopCharging": _spec("in"),
    "initPosition": _spec("in", **_POSITION),
    "stateRequest": _spec("i"), "logReport": _spec("i", reason=S_REQ),
    "pick": _spec("ne", **{**_LOAD, "stationType": S_REQ, "loadType": S_REQ}),
    "drop": _spec("ne", **_LOAD),
    "detectObject": _spec("ne", objectType=S),
    "finePositioning": _spec("ne", stationType=S, stationName=S),
    "waitForTrigger": _spec("n", triggerType=S_REQ),
    "cancelOrder": _spec("i"), "factsheetRequest": _spec("i"),
}
_V21 = {**_V20, "enableMap": _spec("in", **_MAP),
        "downloadMap": _spec("i", **_MAP, mapDownloadLink=S_REQ, mapHash=S), "deleteMap": _spec("i", **_MAP)}
_V30 = {
    "startPause": _spec("i"), "stopPause": _spec("i"),
    "startHibernation": _spec("i", wakeUpTime=S), "stopHibernation": _spec("i"), "shutdown": _spec("i"),
    "startCharging": _spec("in"), "stopCharging": _spec("in"),
    "initializePosition": _spec("in", **_POSITION),
    "enableMap": _spec("in", **_MAP), "downloadMap": _spec("i", **_MAP, mapDownloadLink=S_REQ, mapHash=S),
    "deleteMap": _spec("i", **_MAP),
    "downloadZoneSet": _spec("i", zoneSetId=S_REQ, zoneSetDownloadLink=S_REQ, zoneSetHash=S),
    "enableZoneSet": _spec("in", zoneSetId=S_REQ), "deleteZoneSet": _spec("i", zoneSetId=S_REQ),
    "clearInstantActions": _spec("in"), "clearZoneActions": _spec("in"),
    "stateRequest": _spec("i"), "logReport": _spec("i", reason=S_REQ),
    "pick": _spec("ne", **_LOAD), "drop": _spec("ne", **_LOAD),
    "detectObject": _spec("nez", objectType=S), "finePositioning": _spec("nez", stationType=S, stationName=S),
    "waitForTrigger": _spec("nz", triggerType=Param("array", True)), "trigger": _spec("i"),
    "retry": _spec("i", actionId=S_REQ), "skipRetry": _spec("i", actionId=S_REQ),
    "cancelOrder": _spec("i", orderId=S), "factsheetRequest": _spec("i"),
    "updateCertificate": _spec("i", service=S_REQ, keyDownloadLink=S_REQ, certificateDownloadLink=S_REQ,
                               certificateAuthorityDownloadLink=S),
}

_TOPICS_2 = frozenset({"order", "instantActions", "state", "connection", "factsheet", "visualization"})
VERSIONS: Mapping[str, Version] = MappingProxyType({
    "2.0.0": Version("2.0.0", _TOPICS_2, 2, "CONNECTIONBROKEN", frozenset({"NONE", "SOFT", "HARD"}),
                     MappingProxyType(_V20)),
    "2.1.0": Version("2.1.0", _TOPICS_2, 2, "CONNECTIONBROKEN", frozenset({"NONE", "SOFT", "HARD"}),
                     MappingProxyType(_V21)),
    "3.0.0": Version("3.0.0", _TOPICS_2 | {"responses", "zoneSet"}, 3, "CONNECTION_BROKEN",
                     frozenset({"NONE", "SOFT", "SINGLE", "HARD"}), MappingProxyType(_V30)),
})
VersionName = Literal["2.0.0", "2.1.0", "3.0.0"]
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def version_of(text: object) -> Version | None:
    """The version a header's ``version`` names (any patch of 2.0, 2.1 or 3.0), else ``None``."""
    match = _SEMVER.match(text) if isinstance(text, str) else None
    return VERSIONS.get(f"{match[1]}.{match[2]}.0") if match else None

