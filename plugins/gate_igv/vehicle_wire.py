"""The vehicle side's message bodies, as each version spells them: orders and instant actions in (field
names and shapes of 2.0, 2.1 and 3.0), state, connection, factsheet and visualization out. Used by the
simulator (:mod:`gate_igv.vehicle_sim`), which owns no wire detail of its own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .versions import Version
from .wire import Action, Edge, Node

#: 3.0 error types and what 2.x calls them (section 6.6.4 of 2.1 names fewer).
ERROR_TYPES_2 = {"OTHER_ORDER_ACTIVE": "orderError", "START_NODE_OUT_OF_RANGE": "orderError",
                 "OUTDATED_ORDER_UPDATE": "orderUpdateError", "ORDER_UPDATE_FOLLOWING_CANCEL": "orderUpdateError",
                 "SAME_ORDER_UPDATE_ID": "orderUpdateError", "NO_ORDER_TO_CANCEL": "noOrderToCancel",
                 "VALIDATION_FAILURE": "validationError", "INVALID_INSTANT_ACTION": "orderError"}


def _v3(version: Version) -> bool:
    return version.full.startswith("3.")


@dataclass(frozen=True, slots=True)
class ParsedOrder:
    order_id: str
    update_id: int
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def _actions(items: Iterable[Mapping[str, Any]]) -> tuple[Action, ...]:
    return tuple(Action(a.get("actionType") or a.get("actionName", ""), a["actionId"], a["blockingType"],
                        tuple((p["key"], p["value"]) for p in a.get("actionParameters", ())))
                 for a in items)


def _deviation(position: Mapping[str, Any]) -> float:
    dev = position.get("allowedDeviationXY", position.get("allowedDeviationXy", 0.0))
    return float(min(dev["a"], dev["b"]) if isinstance(dev, Mapping) else dev)


def parse_order(version: Version, body: Mapping[str, Any]) -> ParsedOrder:
    nodes = []
    for n in body["nodes"]:
        pos = n.get("nodePosition") or {"x": 0.0, "y": 0.0, "mapId": ""}
        nodes.append(Node(n["nodeId"], n["sequenceId"], n["released"], float(pos["x"]), float(pos["y"]),
                          pos["mapId"], _deviation(pos), pos.get("theta"), _actions(n["actions"])))
    by_seq = {n.seq: n.id for n in nodes}
    edges = []
    for e in body["edges"]:  # 3.0 edges name no nodes: the nodes before and after them in sequence do
        start = e.get("startNodeId", by_seq.get(e["sequenceId"] - 1, ""))
        end = e.get("endNodeId", by_seq.get(e["sequenceId"] + 1, ""))
        edges.append(Edge(e["edgeId"], e["sequenceId"], e["released"], start, end, float(e.get("length", 0.0)),
                          e.get("maxSpeed", e.get("maximumSpeed")), _actions(e["actions"])))
    return ParsedOrder(body["orderId"], body["orderUpdateId"], tuple(nodes), tuple(edges))


def parse_instant(body: Mapping[str, Any]) -> tuple[Action, ...]:
    return _actions(body["actions"])


def error_type(version: Version, name: str) -> str:
    """A predefined error type as ``version`` spells it (3.0's name given)."""
    return name if _v3(version) else ERROR_TYPES_2.get(name, name)


@dataclass
class Snapshot:
    """What a vehicle reports, version-free (the simulator fills it)."""

    order_id: str
    update_id: int
    last_node_id: str
    last_node_seq: int
    nodes: Sequence[Node]
    edges: Sequence[Edge]
    driving: bool
    paused: bool
    x: float
    y: float
    theta: float
    map_id: str
    actions: Sequence[tuple[str, str, str]]  # (actionId, actionType, actionStatus)
    instant: Sequence[tuple[str, str, str]]
    charge: float
    charging: bool
    errors: Sequence[tuple[str, str, Mapping[str, str]]]  # (errorType, errorLevel, references)
    estop: bool
    loads: Sequence[str]  # load ids
    zone_sets: Sequence[tuple[str, str, str]] = ()  # 3.0: (zoneSetId, mapId, zoneSetStatus)
    zone_requests: Sequence[tuple[str, str, str, str]] = ()  # 3.0: (requestId, zoneId, zoneSetId, requestStatus)


def _node_state(version: Version, n: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"nodeId": n.id, "sequenceId": n.seq, "released": n.released}
    position: dict[str, Any] = {"x": n.x, "y": n.y, "mapId": n.map_id}
    if n.theta is not None or version.full == "2.0.0":  # 2.0 requires theta in a node state's position
        position["theta"] = n.theta or 0.0
    out["nodePosition"] = position
    return out


def _action_states(items: Sequence[tuple[str, str, str]]) -> list[dict[str, str]]:
    return [{"actionId": i, "actionType": t, "actionStatus": s} for i, t, s in items]


def _errors(version: Version, items: Sequence[tuple[str, str, Mapping[str, str]]]) -> list[dict[str, Any]]:
    return [{"errorType": error_type(version, t), "errorLevel": level,
             "errorReferences": [{"referenceKey": k, "referenceValue": v} for k, v in refs.items()]}
            for t, level, refs in items]


def state_body(version: Version, s: Snapshot) -> dict[str, Any]:
    body: dict[str, Any] = {
        "orderId": s.order_id, "orderUpdateId": s.update_id, "lastNodeId": s.last_node_id,
        "lastNodeSequenceId": s.last_node_seq, "driving": s.driving, "paused": s.paused,
        "nodeStates": [_node_state(version, n) for n in s.nodes],
        "edgeStates": [{"edgeId": e.id, "sequenceId": e.seq, "released": e.released} for e in s.edges],
        "errors": _errors(version, s.errors), "information": [],
        "loads": [{"loadId": load} for load in s.loads], "velocity": {"vx": 0.0, "vy": 0.0, "omega": 0.0},
    }
    position = {"x": s.x, "y": s.y, "theta": s.theta, "mapId": s.map_id}
    if _v3(version):
        body.update(
            mobileRobotPosition={**position, "localized": True}, operatingMode="AUTOMATIC",
            actionStates=_action_states(s.actions), instantActionStates=_action_states(s.instant),
            powerSupply={"stateOfCharge": s.charge, "charging": s.charging},
            safetyState={"activeEmergencyStop": "MANUAL" if s.estop else "NONE", "fieldViolation": False},
            zoneSets=[{"zoneSetId": z, "mapId": m, "zoneSetStatus": st} for z, m, st in s.zone_sets],
            zoneRequests=[{"requestId": r, "requestType": "ACCESS", "zoneId": z, "zoneSetId": zs, "requestStatus": st}
                          for r, z, zs, st in s.zone_requests])
    else:
        body.update(
            agvPosition={**position, "positionInitialized": True}, operatingMode="AUTOMATIC",
            actionStates=_action_states([*s.actions, *s.instant]),
            batteryState={"batteryCharge": s.charge, "charging": s.charging},
            safetyState={"eStop": "MANUAL" if s.estop else "NONE", "fieldViolation": False})
    return body


def visualization_body(version: Version, s: Snapshot, state_header_id: int) -> dict[str, Any]:
    position = {"x": s.x, "y": s.y, "theta": s.theta, "mapId": s.map_id}
    if _v3(version):
        return {"referenceStateHeaderId": state_header_id, "mobileRobotPosition": {**position, "localized": True},
                "velocity": {"vx": 0.0, "vy": 0.0, "omega": 0.0}}
    return {"agvPosition": {**position, "positionInitialized": True}, "velocity": {"vx": 0.0, "vy": 0.0, "omega": 0.0}}


def connection_body(version: Version, state: str) -> dict[str, Any]:
    """``state``: ONLINE, OFFLINE or BROKEN (the last will)."""
    return {"connectionState": version.broken if state == "BROKEN" else state}


def factsheet_body(version: Version, speed: float, series: str = "gatecore-sim") -> dict[str, Any]:
    actions = [(name, sorted(spec.scopes)) for name, spec in version.actions.items()]
    if _v3(version):
        return {
            "typeSpecification": {"seriesName": series, "mobileRobotKinematics": "DIFFERENTIAL",
                                  "mobileRobotClass": "CARRIER", "maximumLoadMass": 40000.0,
                                  "localizationTypes": ["NATURAL"], "navigationTypes": ["VIRTUAL_LINE_GUIDED"]},
            "physicalParameters": {"minimumSpeed": 0.0, "maximumSpeed": speed, "maximumAcceleration": 1.0,
                                   "maximumDeceleration": 1.0, "minimumHeight": 0.5, "maximumHeight": 4.5,
                                   "width": 3.0, "length": 14.0},
            "protocolLimits": {"maximumStringLengths": {}, "maximumArrayLengths": {},
                               "timing": {"minimumOrderInterval": 0.0, "minimumStateInterval": 0.0}},
            "protocolFeatures": {"optionalParameters": [], "mobileRobotActions": [
                {"actionType": name, "actionScopes": [s.upper() for s in scopes], "pauseAllowed": False,
                 "cancelAllowed": True} for name, scopes in actions]},
            "mobileRobotGeometry": {}, "loadSpecification": {}}
    return {
        "typeSpecification": {"seriesName": series, "agvKinematic": "DIFF", "agvClass": "CARRIER",
                              "maxLoadMass": 40000.0, "localizationTypes": ["NATURAL"],
                              "navigationTypes": ["VIRTUAL_LINE_GUIDED"]},
        "physicalParameters": {"speedMin": 0.0, "speedMax": speed, "accelerationMax": 1.0, "decelerationMax": 1.0,
                               "heightMax": 4.5, "width": 3.0, "length": 14.0},
        "protocolLimits": {"maxStringLens": {}, "maxArrayLens": {},
                           "timing": {"minOrderInterval": 0.0, "minStateInterval": 0.0}},
        "protocolFeatures": {"optionalParameters": [], "agvActions": [
            {"actionType": name, "actionScopes": [s.upper() for s in scopes if s != "zone"]}
            for name, scopes in actions]},
        "agvGeometry": {}, "loadSpecification": {}}
