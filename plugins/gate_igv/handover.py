"""The cross-border hand-over: when a trip ends at the bridge's hand-over point, this side releases the
vehicle (it sends it nothing more) and hands a ``PartnerMessage`` of kind ``igv.handover`` to whichever
link carries messages to the partner gate (``gatecore_partner_send``; without one it is a record only).
A vehicle coming back is taken over once the partner's hand-over has arrived
(``gatecore_partner_receive``) and the vehicle is online, idle and at the point. The payload is
``schemas/handover-1.json``, checked both ways."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema_rs

from gatecore.api import PartnerMessage

from .fleet import Vehicle
from .versions import VERSIONS, Version
from .yard import Yard

KIND = "igv.handover"
SCHEMA = "gatecore.igv.handover/1"
SCHEMA_FILE = Path(__file__).parent / "schemas" / "handover-1.json"
_VALIDATOR = jsonschema_rs.validator_for(json.loads(SCHEMA_FILE.read_text()))


def payload(trip: str, vehicle: Vehicle, point: str, node: str) -> dict[str, Any]:
    return {"schema": SCHEMA, "trip": trip, "manufacturer": vehicle.id.manufacturer,
            "serialNumber": vehicle.id.serial, "version": vehicle.version.full if vehicle.version else "2.1.0",
            "point": point, "node": node, "loaded": _loaded(vehicle), "t_wall": time.time()}


def _loaded(vehicle: Vehicle) -> bool:
    return bool(vehicle.state is not None and vehicle.state.loads)


def message(site_id: str, trip: str, vehicle: Vehicle, point: str, node: str) -> PartnerMessage:
    body = payload(trip, vehicle, point, node)
    if not _VALIDATOR.is_valid(body):  # a bug: our own message must fit our own schema
        raise ValueError("hand-over payload fails schemas/handover-1.json")
    return PartnerMessage(site_id, KIND, body)


def checked(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``body`` if it is a hand-over payload, else ``None``."""
    return body if _VALIDATOR.is_valid(_plain(body)) else None


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def version(body: Mapping[str, Any]) -> Version | None:
    return VERSIONS.get(str(body.get("version")))


def arrived(vehicle: Vehicle, yard: Yard) -> bool:
    """Whether a vehicle handed in by the partner is online, idle and at the hand-over point."""
    s, expected = vehicle.state, vehicle.handed_in
    if s is None or expected is None or not vehicle.online or not s.idle:
        return False
    station = yard.stations.get(str(expected["point"]))
    node = yard.nodes.get(str(expected.get("node") or (station.node if station is not None else "")))
    if node is None:
        return False
    if s.position is None:
        return s.last_node_id == node.id
    x, y, map_id = s.position
    return map_id == node.map_id and math.hypot(x - node.x, y - node.y) <= max(node.deviation, 0.05)
