"""What the IGV tests share: where the official VDA 5050 schemas are, a small yard around a cargo lane, a
real Mosquitto, simulated vehicles on it, and a capture of every message on the wire validated with the
reference ``jsonschema`` library (not the plugin's own validator)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from gate_igv.bus import BrokerSettings
from gate_igv.client import VehicleId
from gate_igv.schemas import Schemas
from gate_igv.vehicle_sim import SimSettings, VehicleSim, simulated
from gate_igv.versions import VERSIONS
from gate_igv.yard import YardNode
from gate_ioc.testing import Broker, Subscriber


def _schema_dir() -> Path:
    """``$GATECORE_VDA5050_SCHEMAS``, else ``shared/specs/vda5050`` beside the repository (as CI lays it out),
    else this workplace's ``/work/shared/specs/vda5050``."""
    repo = Path(__file__).resolve().parent.parent
    for candidate in (os.environ.get("GATECORE_VDA5050_SCHEMAS", ""), str(repo.parent / "shared/specs/vda5050"),
                      str(repo.parent.parent / "shared/specs/vda5050"), "/work/shared/specs/vda5050"):
        if candidate and (Path(candidate) / "3.0.0" / "state.schema").is_file():
            return Path(candidate)
    pytest.skip("the official VDA 5050 schemas are not on this machine (set GATECORE_VDA5050_SCHEMAS)",
                allow_module_level=True)


SCHEMA_DIR = _schema_dir()
SCHEMAS = Schemas(SCHEMA_DIR)

PARKS = {"park-1": (0.0, 0.0), "park-2": (0.0, 10.0), "park-3": (0.0, 20.0), "park-4": (10.0, 0.0),
         "park-5": (10.0, 20.0), "park-6": (5.0, 10.0)}
#: parking bays to a junction, the lane's exit, the bridge and its hand-over point (x = 100)
NODES = {**PARKS, "j1": (20.0, 10.0), "exit-1": (40.0, 10.0), "j2": (60.0, 10.0), "b1": (80.0, 10.0),
         "hp": (100.0, 10.0)}
EDGES = [(f"p{name[-1]}", name, "j1") for name in PARKS] + [("x1", "j1", "exit-1"), ("x2", "exit-1", "j2"),
                                                            ("b1", "j2", "b1"), ("b2", "b1", "hp")]
#: the parameters of the pick at the lane's exit
PICK = 'stationType = "floor", loadType = "container"'


def yard(lane: str, pick: str = PICK, theta: float | None = None, drop: str | None = None) -> str:
    """The yard in TOML, with one dispatch rule: ``lane``'s exit to the hand-over point (``theta``: the
    orientation every node asks of a vehicle, if any; ``drop``: the parameters of a drop at the point)."""
    drops = "" if drop is None else f'actions = [{{ type = "drop", parameters = {{ {drop} }} }}]\n'
    extra = "" if theta is None else f", theta = {theta}"
    nodes = "".join(f'  {{ id = "{n}", x = {x}, y = {y}{", deviation_m = 1.0" if n == "hp" else ""}{extra} }},\n'
                    for n, (x, y) in NODES.items())
    edges = "".join(f'  {{ id = "{i}", start = "{a}", end = "{b}", two_way = true }},\n' for i, a, b in EDGES)
    return f"""
[plugins.gate_igv.yard]
map_id = "yard"
nodes = [
{nodes}]
edges = [
{edges}]
[plugins.gate_igv.yard.stations.park]
node = "park-1"
kind = "parking"
[plugins.gate_igv.yard.stations.exit-1]
node = "exit-1"
kind = "lane_exit"
actions = [{{ type = "pick", parameters = {{ {pick} }} }}]
[plugins.gate_igv.yard.stations.handover]
node = "hp"
kind = "handover"
{drops}[[plugins.gate_igv.dispatch]]
lane = "{lane}"
stops = ["exit-1", "handover"]
"""


VEHICLES = (("acme", "igv-1", "2.0.0"), ("acme", "igv-2", "2.1.0"), ("acme", "igv-3", "3.0.0"))
#: two vehicles of each version
SIX = (*VEHICLES, ("acme", "igv-4", "2.0.0"), ("zeta", "igv-5", "2.1.0"), ("zeta", "igv-6", "3.0.0"))


TIMING = {"ack_s": 0.5, "resends": 2, "cancel_s": 4, "progress_s": 6, "trip_s": 60, "reconnect_s": 1.5,
          "estop_s": 1.0, "vehicle_s": 30}


def section(tmp: Path, port: int | None, lane: str = "cargo-in-1", vehicles: Sequence[tuple[str, str, str]] = VEHICLES,
            more: str = "", pick: str = PICK, theta: float | None = None, drop: str | None = None, base: int = 3,
            **timing: float) -> str:
    """``[plugins.gate_igv]`` on the broker at ``port`` (``None``: in this process) for ``vehicles``;
    ``timing`` overrides :data:`TIMING`; ``pick``, ``theta`` and ``drop``: as :func:`yard` has them; ``base``:
    the nodes an order releases ahead."""
    times = ", ".join(f"{k} = {v}" for k, v in {**TIMING, **timing}.items())
    fleet = ", ".join(f'{{ manufacturer = "{m}", serial = "{s}", version = "{v}" }}' for m, s, v in vehicles)
    transport = f'transport = "mqtt"\nbroker = "mqtt://127.0.0.1:{port}"' if port else 'transport = "local"'
    return f"""
[plugins.gate_igv]
{transport}
schemas = "{SCHEMA_DIR}"
fleet = [{fleet}]
base_nodes = {base}
horizon_nodes = 2
timing = {{ {times} }}
records = {{ path = "{tmp / 'igv-outbox.sqlite'}", local_path = "{tmp / 'igv-trips.jsonl'}" }}
{more}
""" + yard(lane, pick, theta, drop)


FAST = SimSettings(speed=300.0, action_s=0.05, state_s=0.5, visualization_s=0.5, tick_s=0.02, cancel_s=0.05)
#: slow enough to do something to a vehicle on its way to the lane's exit
SLOW = SimSettings(speed=40.0, action_s=0.1, state_s=0.5, visualization_s=1.0, tick_s=0.02, cancel_s=0.1)
STARTS = ("park-1", "park-2", "park-3", "park-4", "park-5", "park-6")


def vehicles_at(vehicles: Sequence[tuple[str, str, str]] = VEHICLES,
                starts: Sequence[str] = STARTS) -> list[tuple[VehicleId, Any, YardNode]]:
    return [(VehicleId(m, s), VERSIONS[v], YardNode(start, *NODES[start], "yard", 0.5, None))
            for (m, s, v), start in zip(vehicles, starts, strict=False)]


@contextlib.asynccontextmanager
async def sims_running(port: int, vehicles: Sequence[tuple[str, str, str]] = VEHICLES,
                       settings: SimSettings = FAST,
                       starts: Sequence[str] = STARTS) -> AsyncIterator[dict[str, VehicleSim]]:
    """Simulated vehicles on the broker at ``port``, each through a relay that can cut its link."""
    sims = simulated(vehicles_at(vehicles, starts), SCHEMAS, "uagv", settings, mqtt=BrokerSettings("127.0.0.1", port,
                                                                                       connect_timeout_s=1.0))
    tasks = [asyncio.create_task(sim.run()) for sim in sims]
    try:
        yield {sim.vehicle.serial: sim for sim in sims}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "mosquitto")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def wire(broker: Broker, tmp_path: Path) -> Iterator[Subscriber]:
    """Every VDA 5050 message on the broker, as ``mosquitto_sub`` saw it."""
    sub = Subscriber(broker.port, "uagv/#", tmp_path / "wire.txt", client_id="igv-wire")
    sub.start()
    try:
        yield sub
    finally:
        sub.stop()


_REFERENCE: dict[tuple[str, str], Any] = {}


def reference_errors(topic: str, message: dict[str, Any]) -> list[str]:
    """Why ``message`` on ``topic`` fails the official schema of the version it carries (reference library)."""
    version, name = VERSIONS[str(message["version"])], topic.rsplit("/", 1)[1]
    key = (version.full, name)
    if key not in _REFERENCE:
        schema = json.loads((SCHEMA_DIR / version.full / version.schema_file(name)).read_text())
        _REFERENCE[key] = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return [e.message for e in _REFERENCE[key].iter_errors(message)]


def header_ids_increase(messages: Sequence[tuple[str, dict[str, Any]]], skip: Sequence[str] = ()) -> list[str]:
    """Topics whose header ids do not strictly increase in arrival order (``skip``: topics left out)."""
    last: dict[str, int] = {}
    wrong = []
    for topic, message in messages:
        if topic.rsplit("/", 1)[1] in skip:
            continue
        header = int(message["headerId"])
        if topic in last and header <= last[topic]:
            wrong.append(f"{topic}: {last[topic]} then {header}")
        last[topic] = header
    return wrong
