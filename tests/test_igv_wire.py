"""The VDA 5050 client layer: every kind of message each side sends, in each version, passes the official
schema (checked again with the reference ``jsonschema`` library); one that fails is never sent; what
arrives is validated, and a wrong version, a header that disagrees with its topic, a schema error or no JSON
at all is rejected with a counted reason while the messages after it still arrive; header ids count per
topic; timestamps, QoS and retain flags are each version's."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from gate_igv.bus import Bus
from gate_igv.client import HEADER_BLOCK, InvalidOutgoing, Reserve, Vda5050Client, VehicleId
from gate_igv.config import YardConfig
from gate_igv.plan import plan
from gate_igv.vehicle_wire import Snapshot, connection_body, factsheet_body, state_body, visualization_body
from gate_igv.versions import VERSIONS, Version
from gate_igv.wire import Action, Order, instant_body, order_body, parse_state, responses_body
from gate_igv.yard import Yard

from .igv_kit import NODES, SCHEMAS, reference_errors

VID = VehicleId("acme", "igv-1")
ALL = list(VERSIONS.values())
YARD = Yard(YardConfig.model_validate({
    "map_id": "yard", "nodes": [{"id": n, "x": x, "y": y} for n, (x, y) in NODES.items()],
    "edges": [{"id": "x1", "start": "j1", "end": "exit-1", "two_way": True, "max_speed": 3.0},
              {"id": "x2", "start": "exit-1", "end": "j2"}],
    "stations": {"exit": {"node": "exit-1", "kind": "lane_exit", "actions": [
        {"type": "pick", "parameters": {"stationType": "floor", "loadType": "container", "height": 0.5}}]},
        "out": {"node": "j2", "kind": "handover"}}}))


class Recording(Bus):
    """A bus that keeps what is published (topic, payload, qos, retain), for the client's choices."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, int, bool]] = []

    @property
    def up(self) -> bool:
        return True

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        self.published.append((topic, payload, qos, retain))


def master(got: list[Any] | None = None, expected: Version | None = None, reserve: Reserve | None = None
           ) -> Vda5050Client:
    return Vda5050Client(Recording(), SCHEMAS, "uagv", "master", (got if got is not None else []).append,
                         lambda _: expected, reserve)


def an_order(version: Version) -> Order:
    route = plan(YARD, "trip-1.1", "j1", ["exit", "out"], None, (18.0, 9.0, "yard"), 2, 2)
    assert route is not None
    return route.order("trip-1.1", 0, 0, route.first_released())


def snapshot() -> Snapshot:
    order = an_order(VERSIONS["2.1.0"])
    return Snapshot("trip-1.1", 0, "j1", 2, order.nodes[2:], order.edges[2:], True, False, 19.0, 10.0, 0.1, "yard",
                    [("trip-1.1-4-0", "pick", "WAITING")], [("c1", "cancelOrder", "FINISHED")], 80.0, False,
                    [("NO_ORDER_TO_CANCEL", "WARNING", {"actionId": "c0"})], False, ["load"])


@pytest.mark.parametrize("version", ALL, ids=lambda v: v.full)
async def test_every_message_the_fleet_control_sends_passes_the_schema_of_its_version(version: Version) -> None:
    client = master()
    await client.send(VID, version, "order", order_body(version, an_order(version)))
    await client.send(VID, version, "instantActions", instant_body(version, [Action("cancelOrder", "c1", "HARD")]))
    if "responses" in version.topics:
        await client.send(VID, version, "responses", responses_body([("r1", "GRANTED", "2026-12-01T10:00:00.000Z"),
                                                                    ("r2", "QUEUED", None)]))
    published = client.bus.published  # type: ignore[attr-defined]
    for topic, payload, _, _ in published:
        assert not reference_errors(topic, orjson.loads(payload)), topic
    node = orjson.loads(published[0][1])["nodes"][0]
    assert "nodePosition" in node and node["nodePosition"]["mapId"] == "yard"  # every node carries its position


@pytest.mark.parametrize("version", ALL, ids=lambda v: v.full)
def test_every_message_the_simulated_vehicle_sends_passes_the_schema_of_its_version(version: Version) -> None:
    vehicle = Vda5050Client(Recording(), SCHEMAS, "uagv", "vehicle", lambda _: None)
    bodies = {"state": state_body(version, snapshot()), "connection": connection_body(version, "BROKEN"),
              "factsheet": factsheet_body(version, 3.0), "visualization": visualization_body(version, snapshot(), 4)}
    for topic, body in bodies.items():
        message = orjson.loads(vehicle.encode(VID, version, topic, body))
        assert not reference_errors(f"uagv/{version.major}/acme/igv-1/{topic}", message), topic
    assert bodies["connection"]["connectionState"] == ("CONNECTION_BROKEN" if version.full == "3.0.0"
                                                       else "CONNECTIONBROKEN")


def test_a_message_that_fails_its_schema_is_a_bug_and_is_never_sent() -> None:
    client = master()
    version = VERSIONS["3.0.0"]
    body = order_body(version, an_order(version))
    body["nodes"][0]["sequenceId"] = -1
    with pytest.raises(InvalidOutgoing, match="fails its schema"):
        client.encode(VID, version, "order", body)
    with pytest.raises(InvalidOutgoing, match="does not publish"):
        client.encode(VID, version, "state", {})  # a topic of the other side
    assert not client.bus.published  # type: ignore[attr-defined]


async def test_header_ids_count_per_topic_and_vehicle_from_zero() -> None:
    client = master()
    version = VERSIONS["2.1.0"]
    other = VehicleId("acme", "igv-2")
    for vehicle in (VID, VID, other, VID):
        await client.send(vehicle, version, "instantActions", instant_body(version, [Action("stateRequest", "s")]))
    await client.send(VID, version, "order", order_body(version, an_order(version)))
    ids = [(t.split("/")[3], t.rsplit("/", 1)[1], orjson.loads(p)["headerId"])
           for t, p, _, _ in client.bus.published]  # type: ignore[attr-defined]
    assert ids == [("igv-1", "instantActions", 0), ("igv-1", "instantActions", 1), ("igv-2", "instantActions", 0),
                   ("igv-1", "instantActions", 2), ("igv-1", "order", 0)]


async def test_header_ids_are_sent_only_below_a_reservation_and_a_resumed_client_counts_on_above_them() -> None:
    reservations: list[tuple[str, str, int]] = []

    async def reserve(vehicle: VehicleId, topic: str, n: int) -> None:
        await asyncio.sleep(0.01)  # a durable write: other sends wait for it
        reservations.append((vehicle.serial, topic, n))

    version = VERSIONS["2.1.0"]
    body = instant_body(version, [Action("stateRequest", "s")])
    client = master(reserve=reserve)
    await asyncio.gather(*(client.send(VID, version, "instantActions", body) for _ in range(HEADER_BLOCK + 5)))
    sent = [orjson.loads(p)["headerId"] for _, p, _, _ in client.bus.published]  # type: ignore[attr-defined]
    assert sent == list(range(HEADER_BLOCK + 5))
    assert reservations == [("igv-1", "instantActions", HEADER_BLOCK), ("igv-1", "instantActions", 2 * HEADER_BLOCK)]

    again = master(reserve=reserve)
    again.resume_headers({(VID, "instantActions"): reservations[-1][2]})
    await again.send(VID, version, "instantActions", body)
    await again.send(VID, version, "order", order_body(version, an_order(version)))
    ids = [orjson.loads(p)["headerId"] for _, p, _, _ in again.bus.published]  # type: ignore[attr-defined]
    assert ids == [2 * HEADER_BLOCK, 0] and ids[0] > max(sent)  # a topic without a reservation starts at 0
    assert reservations[-2:] == [("igv-1", "instantActions", 3 * HEADER_BLOCK), ("igv-1", "order", HEADER_BLOCK)]


@pytest.mark.parametrize(("version", "pattern"), [("2.0.0", r"\.\d{2}Z$"), ("2.1.0", r"\.\d{2}Z$"),
                                                  ("3.0.0", r"\.\d{3}Z$")])
async def test_timestamps_have_the_precision_and_qos_the_level_each_version_says(version: str,
                                                                                pattern: str) -> None:
    v = VERSIONS[version]
    client = master()
    await client.send(VID, v, "order", order_body(v, an_order(v)))
    sim_side = Vda5050Client(Recording(), SCHEMAS, "uagv", "vehicle", lambda _: None)
    await sim_side.send(VID, v, "connection", connection_body(v, "ONLINE"))
    [(topic, payload, qos, retain)] = client.bus.published  # type: ignore[attr-defined]
    assert topic == f"uagv/{v.major}/acme/igv-1/order" and (qos, retain) == (0, False)
    assert re.search(pattern, orjson.loads(payload)["timestamp"])
    [(topic, _, qos, retain)] = sim_side.bus.published  # type: ignore[attr-defined]
    assert topic.endswith("/connection") and (qos, retain) == (1, True)


def _state(v: Version, **header: Any) -> bytes:
    vehicle = Vda5050Client(Recording(), SCHEMAS, "uagv", "vehicle", lambda _: None)
    message = orjson.loads(vehicle.encode(VID, v, "state", state_body(v, snapshot())))
    return orjson.dumps({**message, **header})


def test_what_arrives_is_validated_and_a_bad_message_is_rejected_with_its_reason_and_counted() -> None:
    got: list[Any] = []
    client = master(got, expected=VERSIONS["2.1.0"])
    v21, v30 = VERSIONS["2.1.0"], VERSIONS["3.0.0"]
    topic = "uagv/v2/acme/igv-1/state"
    client.receive(topic, b"{not json")
    client.receive(topic, _state(v21, serialNumber="igv-9"))  # the header names another vehicle
    client.receive(topic, _state(v21, version="2.0.0"))  # not the version this vehicle speaks
    client.receive("uagv/v3/acme/igv-1/state", _state(v30))  # a 3.0 vehicle where a 2.1 one is expected
    client.receive(topic, _state(v21, batteryState={"charging": False}))  # batteryCharge missing
    client.receive("uagv/v2/acme/igv-1/order", _state(v21))  # the fleet control does not take orders
    client.receive(topic, _state(v21))
    assert dict(client.rejected) == {"not_json": 1, "header_mismatch": 1, "wrong_version": 2, "schema": 1,
                                     "unknown_topic": 1}
    assert [(m.topic, m.version.full) for m in got] == [("state", "2.1.0")]  # the good one after them arrived
    state = parse_state(v21, got[0].body)
    assert (state.order_id, state.last_node_id, state.charge, state.loads) == ("trip-1.1", "j1", 80.0, ("load",))


def test_a_vehicle_of_unknown_version_is_taken_at_the_version_its_messages_carry() -> None:
    got: list[Any] = []
    client = master(got)
    client.receive("uagv/v3/acme/igv-1/state", _state(VERSIONS["3.0.0"]))
    client.receive("uagv/v3/acme/igv-1/state", _state(VERSIONS["2.1.0"]))  # a 2.x body on a v3 topic
    assert [m.version.full for m in got] == ["3.0.0"] and client.rejected["wrong_version"] == 1


def test_the_simulator_knows_nothing_of_the_fleet_control_but_the_wire() -> None:
    """The vehicle side shares only the client layer and the version tables with the fleet control, so that
    what it accepts is what the standard says, not what this fleet control happens to send."""
    import ast

    import gate_igv.vehicle_sim as sim
    import gate_igv.vehicle_wire as vwire

    def imported(module: Any) -> set[str]:
        tree = ast.parse(Path(module.__file__).read_text())
        return {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}

    assert imported(sim) | imported(vwire) <= {"bus", "client", "relay", "schemas", "vehicle_wire", "versions",
                                               "wire", "yard"}  # not control, fleet, trips, plan, handover
