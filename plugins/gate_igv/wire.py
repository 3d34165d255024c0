"""Message bodies as each version spells them, for the fleet control's side: orders and instant actions
out, states and connections in. The fleet logic works on the version-free types here (:class:`Order`,
:class:`VehicleState`); this module maps them to and from the wire (field names, nested shapes and
enumerations differ between 2.0, 2.1 and 3.0). The header is :mod:`gate_igv.client`'s.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .versions import Version

#: Error levels that stop a vehicle's order (3.0: CRITICAL and FATAL; 2.x: FATAL).
STOPPING = frozenset({"CRITICAL", "FATAL"})
DONE = frozenset({"FINISHED", "FAILED"})


@dataclass(frozen=True, slots=True)
class Action:
    type: str
    id: str
    blocking: str = "HARD"
    parameters: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    seq: int
    released: bool
    x: float
    y: float
    map_id: str
    deviation: float
    theta: float | None = None
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True, slots=True)
class Edge:
    id: str
    seq: int
    released: bool
    start: str
    end: str
    length: float
    max_speed: float | None = None
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    update_id: int
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


@dataclass(frozen=True, slots=True)
class VehicleError:
    type: str
    level: str
    references: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class VehicleState:
    """A vehicle's ``state`` message, version-free."""

    order_id: str
    update_id: int
    last_node_id: str
    last_node_seq: int
    nodes: tuple[tuple[str, int], ...]  # (nodeId, sequenceId) still to traverse
    edges: tuple[tuple[str, int], ...]
    driving: bool
    position: tuple[float, float, str] | None  # x, y, mapId when localised
    actions: Mapping[str, str]  # actionId -> actionStatus, order actions (and 2.x instant actions)
    instant: Mapping[str, str]  # actionId -> actionStatus, instant actions
    charge: float  # percent
    mode: str
    errors: tuple[VehicleError, ...]
    estop: bool
    loads: tuple[str, ...] = ()  # load ids (or types) on board
    zone_requests: tuple[Mapping[str, Any], ...] = ()  # 3.0
    edge_requests: tuple[Mapping[str, Any], ...] = ()  # 3.0
    at: float = field(default_factory=time.monotonic)

    @property
    def idle(self) -> bool:
        """No node or edge to go and every order action FINISHED or FAILED (section 6.6.8 of 3.0)."""
        return not self.nodes and not self.edges and all(s in DONE for s in self.actions.values())

    @property
    def stopping_error(self) -> VehicleError | None:
        return next((e for e in self.errors if e.level in STOPPING), None)

    def refers_to(self, order_id: str) -> VehicleError | None:
        """An error naming ``order_id`` (a rejected order, section 6.1.4)."""
        return next((e for e in self.errors if e.references.get("orderId") == order_id), None)


# -- out ------------------------------------------------------------------------------------------------

def _action(version: Version, a: Action, instant: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"actionId": a.id, "actionType": a.type, "blockingType": "NONE" if instant else a.blocking}
    if instant and version.full == "2.0.0":
        out["actionName"] = a.type  # the 2.0.0 schema names the field actionName, its text actionType: both
    if a.parameters:
        out["actionParameters"] = [{"key": k, "value": v} for k, v in a.parameters]
    return out


def _node(version: Version, n: Node) -> dict[str, Any]:
    position: dict[str, Any] = {"x": n.x, "y": n.y, "mapId": n.map_id}
    if n.theta is not None:
        position["theta"] = n.theta
    if version.full == "2.0.0":
        position["allowedDeviationXy"] = n.deviation
    elif version.full == "2.1.0":
        position["allowedDeviationXY"] = n.deviation
    else:
        position["allowedDeviationXY"] = {"a": n.deviation, "b": n.deviation, "theta": 0.0}
    return {"nodeId": n.id, "sequenceId": n.seq, "released": n.released, "nodePosition": position,
            "actions": [_action(version, a) for a in n.actions]}


def _edge(version: Version, e: Edge) -> dict[str, Any]:
    out: dict[str, Any] = {"edgeId": e.id, "sequenceId": e.seq, "released": e.released, "length": e.length,
                           "actions": [_action(version, a) for a in e.actions]}
    if version.full.startswith("2."):
        out.update(startNodeId=e.start, endNodeId=e.end)
        if e.max_speed is not None:
            out["maxSpeed"] = e.max_speed
    elif e.max_speed is not None:
        out["maximumSpeed"] = e.max_speed
    return out


def order_body(version: Version, order: Order) -> dict[str, Any]:
    return {"orderId": order.order_id, "orderUpdateId": order.update_id,
            "nodes": [_node(version, n) for n in order.nodes], "edges": [_edge(version, e) for e in order.edges]}


def instant_body(version: Version, actions: Sequence[Action]) -> dict[str, Any]:
    return {"actions": [_action(version, a, instant=True) for a in actions]}


def responses_body(responses: Sequence[tuple[str, str, str | None]]) -> dict[str, Any]:
    """3.0's ``responses``: (requestId, grantType, leaseExpiry or None) each."""
    out = []
    for request_id, grant, lease in responses:
        item = {"requestId": request_id, "grantType": grant}
        if lease is not None:
            item["leaseExpiry"] = lease
        out.append(item)
    return {"responses": out}


# -- in -------------------------------------------------------------------------------------------------

def _statuses(items: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    return {a["actionId"]: a["actionStatus"] for a in items}


def _errors(items: Sequence[Mapping[str, Any]]) -> tuple[VehicleError, ...]:
    return tuple(VehicleError(e["errorType"], e["errorLevel"],
                              {r["referenceKey"]: r["referenceValue"] for r in e.get("errorReferences", ())})
                 for e in items)


def parse_state(version: Version, body: Mapping[str, Any]) -> VehicleState:
    """A validated ``state`` body of ``version``."""
    v3 = version.full.startswith("3.")
    pos = body.get("mobileRobotPosition" if v3 else "agvPosition")
    localised = pos is not None and pos.get("localized" if v3 else "positionInitialized", False)
    actions = _statuses(body["actionStates"])
    if v3:
        charge, estop = body["powerSupply"]["stateOfCharge"], body["safetyState"]["activeEmergencyStop"]
    else:
        charge, estop = body["batteryState"]["batteryCharge"], body["safetyState"]["eStop"]
    return VehicleState(
        order_id=body["orderId"], update_id=body["orderUpdateId"], last_node_id=body["lastNodeId"],
        last_node_seq=body["lastNodeSequenceId"],
        nodes=tuple((n["nodeId"], n["sequenceId"]) for n in body["nodeStates"]),
        edges=tuple((e["edgeId"], e["sequenceId"]) for e in body["edgeStates"]),
        driving=body["driving"], position=(pos["x"], pos["y"], pos["mapId"]) if pos is not None and localised else None,
        actions=actions, instant=_statuses(body["instantActionStates"]) if v3 else actions,
        charge=float(charge), mode=body["operatingMode"], errors=_errors(body["errors"]), estop=estop != "NONE",
        loads=tuple(str(x.get("loadId", x.get("loadType", "load"))) for x in body.get("loads", ())),
        zone_requests=tuple(body.get("zoneRequests", ())), edge_requests=tuple(body.get("edgeRequests", ())))


def connection_state(version: Version, body: Mapping[str, Any]) -> str:
    """``ONLINE``, ``OFFLINE``, ``HIBERNATING`` or ``BROKEN`` (the last will: CONNECTIONBROKEN in 2.x,
    CONNECTION_BROKEN in 3.0)."""
    state = str(body["connectionState"])
    return "BROKEN" if state == version.broken else state
