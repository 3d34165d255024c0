"""IGV fleet control (gate_igv, VDA 5050): how many vehicles one controller follows at 1 state message/s
each and what share of one core that takes, the dispatch decision latency, and the messages of a trip.

    python bench/igv.py [--vehicles 250,500,1000] [--seconds 20] [--trips 60] [--schemas DIR]

Starts its own Mosquitto on 127.0.0.1. Following: a separate process publishes, for each of N vehicles,
the retained ONLINE ``connection`` and a valid 2.1 ``state`` every second (one MQTT connection, spread over
the second); this process runs the fleet control on the same broker (every message parsed, checked against
its topic and validated against the official schema, then tracked) and measures its own CPU time over the
window; a trip is dispatched every second meanwhile (the vehicles of the publisher never take it: what
counts is the decision). Trips: six simulated vehicles (2.0, 2.1 and 3.0) do ``--trips`` trips from a lane's
exit to the hand-over point on the bridge; the decision latency is from the PASS (``submit``: the trip
recorded durably) to its order on the wire, every message on the wire is counted per trip. Prints the
figures, writes its section of BENCHMARKS.md and prints a JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import write_section

from gate_igv.bus import BrokerSettings, MqttBus
from gate_igv.client import Vda5050Client, VehicleId
from gate_igv.config import IgvSection
from gate_igv.control import FleetControl
from gate_igv.schemas import SchemaError, Schemas, search
from gate_igv.vehicle_sim import SimSettings, simulated
from gate_igv.vehicle_wire import Snapshot, connection_body, state_body
from gate_igv.versions import VERSIONS
from gate_igv.yard import Yard
from gate_ioc.testing import Broker

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "profiles" / "igv.toml"
TARGET_VEHICLES, TARGET_FRACTION = 500, 0.20


def schema_dir(given: str | None) -> Path:
    """``--schemas``, else the plugin's search path, else ``shared/specs/vda5050`` beside the repository."""
    try:
        return search(given)
    except SchemaError:
        for up in (ROOT.parent, ROOT.parent.parent):
            if (up / "shared/specs/vda5050/3.0.0").is_dir():
                return up / "shared/specs/vda5050"
        raise


def section(tmp: Path, port: int, schemas: str, fleet: list[dict[str, str]], **more: Any) -> IgvSection:
    raw = tomllib.loads(PROFILE.read_text())["plugins"]["gate_igv"]
    raw.update(transport="mqtt", broker=f"mqtt://127.0.0.1:{port}", schemas=schemas, fleet=fleet, simulate=[],
               records={"path": str(tmp / "outbox.sqlite"), "local_path": str(tmp / "trips.jsonl")}, **more)
    return IgvSection.model_validate(raw)


# -- the publishing process ------------------------------------------------------------------------------

def _idle_state(node: Any) -> Snapshot:
    return Snapshot("", 0, node.id, 0, [], [], False, False, node.x, node.y, 0.0, node.map_id, [], [], 80.0, False,
                    [], False, [])


async def publish(port: int, n: int, schemas: str, seconds: float) -> None:
    """N vehicles' states at 1 Hz each, spread over every second, for ``seconds``."""
    yard = Yard(section(Path(tempfile.gettempdir()), port, schemas, []).yard)
    nodes = list(yard.nodes.values())
    version = VERSIONS["2.1.0"]
    bus = MqttBus(BrokerSettings("127.0.0.1", port, client_id="bench-igv-vehicles"))
    client = Vda5050Client(bus, Schemas(Path(schemas)), "uagv", "vehicle", lambda _: None)
    runner = asyncio.create_task(bus.run())
    await asyncio.wait_for(bus.connected.wait(), 10)
    vids = [VehicleId("bench", f"v{i:04d}") for i in range(n)]
    bodies = {vid: state_body(version, _idle_state(nodes[i % len(nodes)])) for i, vid in enumerate(vids)}
    for vid in vids:
        await client.send(vid, version, "connection", connection_body(version, "ONLINE"))
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        second = time.monotonic()
        for i, vid in enumerate(vids):
            await client.send(vid, version, "state", bodies[vid])
            due = second + (i + 1) / n
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
    runner.cancel()


# -- following -------------------------------------------------------------------------------------------

async def follow(port: int, n: int, seconds: float, schemas: str, tmp: Path) -> dict[str, Any]:
    fleet_cfg = [{"manufacturer": "bench", "serial": f"v{i:04d}", "version": "2.1.0"} for i in range(n)]
    cfg = section(tmp, port, schemas, fleet_cfg, timing={"ack_s": 60, "resends": 0, "vehicle_s": 1})
    fleet = FleetControl(cfg, "bench/igv")
    serving = asyncio.create_task(fleet.serve())
    warm = 4.0
    pub = await asyncio.create_subprocess_exec(sys.executable, __file__, "--publish", str(port), str(n),
                                               "--schemas", schemas, "--seconds", str(seconds + warm + 2))
    try:
        await asyncio.sleep(warm)
        states0, cpu0, wall0 = fleet.vehicles.states, time.process_time(), time.monotonic()
        trips = 0
        while time.monotonic() - wall0 < seconds:
            await fleet.submit(cfg.dispatch[trips % len(cfg.dispatch)].lane, None)
            trips += 1
            await asyncio.sleep(1.0)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        states = fleet.vehicles.states - states0
        now = time.monotonic()
        fresh = sum(1 for v in fleet.vehicles.all.values() if v.state is not None and now - v.seen < 2.5)
    finally:
        pub.terminate()
        await asyncio.wait_for(pub.wait(), 10)
        fleet.stop()
        await asyncio.wait_for(serving, 10)
    return {"vehicles": n, "followed": fresh, "states_per_s": states / wall, "core_fraction": cpu / wall,
            "dispatch_ms": sorted(fleet.dispatch_ms), "trips": trips, "invalid": fleet.client.invalid}


# -- trips -------------------------------------------------------------------------------------------------

async def trips(port: int, count: int, schemas: str, tmp: Path) -> dict[str, Any]:
    versions = ["2.0.0", "2.1.0", "3.0.0"] * 2
    fleet_cfg = [{"manufacturer": "sim", "serial": f"igv-{i}", "version": v} for i, v in enumerate(versions)]
    cfg = section(tmp, port, schemas, fleet_cfg)
    fleet = FleetControl(cfg, "bench/igv")
    parks = [s.node for s in fleet.yard.stations.values() if s.kind in ("parking", "charging")]
    sims = simulated([(VehicleId("sim", f"igv-{i}"), VERSIONS[v], fleet.yard.nodes[parks[i % len(parks)]])
                      for i, v in enumerate(versions)], fleet.schemas, cfg.interface_name,
                     SimSettings(speed=100.0, action_s=0.05, state_s=1.0, visualization_s=1.0, tick_s=0.02),
                     mqtt=BrokerSettings("127.0.0.1", port))
    fleet.extra += [sim.run for sim in sims]
    wire: list[str] = []
    counter = MqttBus(BrokerSettings("127.0.0.1", port, client_id="bench-igv-wire"),
                      receiver=lambda topic, payload: wire.append(topic))
    await counter.subscribe("uagv/#")
    tasks = [asyncio.create_task(fleet.serve()), asyncio.create_task(counter.run())]
    await asyncio.sleep(2.0)
    wire.clear()
    limit = asyncio.Semaphore(len(sims))
    recorded: list[float] = []

    async def one(i: int) -> None:
        async with limit:
            t = time.perf_counter()
            trip = await fleet.submit(cfg.dispatch[i % len(cfg.dispatch)].lane, None)
            recorded.append((time.perf_counter() - t) * 1000)
            assert trip is not None
            await trip.done.wait()

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(count)))
    seconds = time.monotonic() - t0
    await asyncio.sleep(0.5)
    fleet.stop()
    await asyncio.wait_for(tasks[0], 10)
    tasks[1].cancel()
    by_topic: dict[str, int] = {}
    for topic in wire:
        by_topic[topic.rsplit("/", 1)[1]] = by_topic.get(topic.rsplit("/", 1)[1], 0) + 1
    return {"trips": count, "completed": fleet.counts["completed"], "seconds": seconds, "by_topic": by_topic,
            "dispatch_ms": sorted(fleet.dispatch_ms), "recorded_ms": sorted(recorded), "invalid": fleet.client.invalid}


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else \
        (values[0] if values else float("nan"))


def report(follows: list[dict[str, Any]], trip: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    ok = [f for f in follows if f["followed"] == f["vehicles"] and f["states_per_s"] >= 0.9 * f["vehicles"]
          and f["core_fraction"] <= TARGET_FRACTION]
    best = max(ok, key=lambda f: f["vehicles"]) if ok else min(follows, key=lambda f: f["core_fraction"])
    per_trip = {k: v / max(1, trip["completed"]) for k, v in sorted(trip["by_topic"].items())}
    fleet_side = sum(v for k, v in per_trip.items() if k in ("order", "instantActions", "responses", "zoneSet"))
    lines = ["Following (one fleet control, 1 state message/s from each vehicle, each validated against the "
             "official 2.1 schema; a trip dispatched every second meanwhile):", "",
             "| vehicles | followed (state < 2.5 s old) | states/s handled | share of one core | dispatch p50 ms "
             "(under load) | invalid |", "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {f['vehicles']} | {f['followed']} | {f['states_per_s']:.0f} | {f['core_fraction']:.3f} | "
              f"{pct(f['dispatch_ms'], 50):.2f} | {f['invalid']} |" for f in follows]
    lines += ["", f"Trips: {trip['completed']}/{trip['trips']} completed with hand-over by six simulated vehicles "
              f"(two each of 2.0, 2.1, 3.0) in {trip['seconds']:.1f} s; dispatch decision latency (PASS recorded "
              f"durably -> order on the wire) p50 **{pct(trip['dispatch_ms'], 50):.2f} ms**, p99 "
              f"{pct(trip['dispatch_ms'], 99):.2f} ms, of which recording the trip before the lane acts (an fsync'd "
              f"outbox commit) p50 {pct(trip['recorded_ms'], 50):.2f} ms.", "",
              "Messages per trip on the wire (all VDA 5050 topics; sent by the fleet control: "
              f"**{fleet_side:.1f}**):", "",
              "| topic | per trip |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in per_trip.items()]
    lines += ["", f"Target: >= {TARGET_VEHICLES} vehicles followed with <= {TARGET_FRACTION:.0%} of one core: "
              f"**{best['vehicles']} vehicles at {best['core_fraction']:.3f}**. Load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs shared with other work."]
    body = "\n".join(lines)
    print(body)
    write_section("IGV fleet control (bench/igv.py)", "python bench/igv.py " + " ".join(sys.argv[1:]), body)
    return {"bench": "igv", "vehicles_followed": best["vehicles"] if best in ok else 0,
            "core_fraction": round(best["core_fraction"], 3), "dispatch_ms_p50": round(pct(trip["dispatch_ms"], 50), 3),
            "messages_per_trip": round(sum(per_trip.values()), 1), "fleet_messages_per_trip": round(fleet_side, 1)}


def main() -> None:
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vehicles", default="250,500,1000")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--trips", type=int, default=60)
    ap.add_argument("--schemas", default=None, help="the official VDA 5050 schemas (default: the search path)")
    ap.add_argument("--publish", nargs=2, type=int, metavar=("PORT", "N"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    schemas = str(schema_dir(a.schemas))
    if a.publish:
        asyncio.run(publish(a.publish[0], a.publish[1], schemas, a.seconds))
        return
    from gatecore import logs

    logs.configure("warning", "json", open(os.devnull, "w"))  # noqa: SIM115 - for the whole run
    with tempfile.TemporaryDirectory(prefix="gatecore-bench-igv-") as tmp:
        broker = Broker(Path(tmp) / "mosquitto", durable_sessions=False)
        broker.start()
        try:
            follows = []
            for n in (int(x) for x in a.vehicles.split(",")):
                work = Path(tmp) / f"follow-{n}"
                work.mkdir()
                follows.append(asyncio.run(follow(broker.port, n, a.seconds, schemas, work)))
                print(json.dumps({k: v for k, v in follows[-1].items() if k != "dispatch_ms"}), file=sys.stderr)
            (Path(tmp) / "trips").mkdir()
            trip = asyncio.run(trips(broker.port, a.trips, schemas, Path(tmp) / "trips"))
        finally:
            broker.stop()
    print(json.dumps(report(follows, trip, a)))


if __name__ == "__main__":
    main()
