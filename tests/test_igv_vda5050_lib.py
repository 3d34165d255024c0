"""gate_igv drives a VDA 5050 vehicle it did not write: vda-5050-lib's virtual AGV (Node.js, on a real
Mosquitto) takes the trips of a cargo lane to the hand-over point, and every message on the wire, its and
ours, is valid against the official 2.0.0 schemas.

The yard gives every node an orientation: the library reports each node of its order in ``nodeStates``
with the order's ``nodePosition``, and 2.0.0's state schema requires ``theta`` there (optional in the
order); without one its states fail the schema, and gate_igv rejects them as the standard says. The
load is dropped at the point (the virtual vehicle cannot pick a second load on top of the first). Orders
release four nodes at a time, so that no order update stitches onto the lane's exit: the library adds the
stitching node's actions of an update to those it has, where 2.0 says the
stitching node is resent unchanged, as gate_igv does, and the first order's actions stand; it would then
run the pick twice (2.1.0's text in specs/ says so in these words; 2.0.0's text is not there)."""

from __future__ import annotations

from pathlib import Path

from gate_igv.plugin import FLEET
from gate_igv.records import read_records
from gate_ioc.testing import Broker, Subscriber
from gatecore.testing import make_site, running, wait_for

from . import scripted
from .conftest import SITE, lane_toml
from .igv_kit import broker, header_ids_increase, reference_errors, section, wire
from .igv_lib_kit import PICK, lib_vehicles
from .test_igv_faults import clear_one

__all__ = ["broker", "wire"]  # fixtures
LIB = (("siemens", "vlib-1", "park-1"), ("siemens", "vlib-2", "park-3"))
TRIPS = 4


def statuses(tmp: Path) -> list[str]:
    return [r["status"] for r in read_records(tmp / "igv-trips.jsonl")]


async def test_trips_to_the_hand_over_point_complete_on_vda_5050_lib_vehicles(
        tmp_path: Path, broker: Broker, wire: Subscriber) -> None:
    fleet_toml = [(m, s, "2.0.0") for m, s, _ in LIB]
    site, _ = make_site(SITE + lane_toml("cargo-in-1") + section(tmp_path, broker.port, vehicles=fleet_toml,
                                                                 pick=PICK, drop=PICK, theta=0.0, base=4,
                                                                 progress_s=20, vehicle_s=120),
                        tmp_path, plugins={"scripted": scripted})
    fleet = site.stash[FLEET]
    async with lib_vehicles(broker.port, LIB), running(site, timeout=20):
        await wait_for(lambda: all(v.state is not None for v in fleet.vehicles.all.values()), 10)
        for _ in range(TRIPS):
            await clear_one(site)
        await wait_for(lambda: fleet.counts["completed"] + fleet.counts["failed"] >= TRIPS, 120)
        await wait_for(lambda: statuses(tmp_path).count("handed_over") + fleet.counts["failed"] >= TRIPS, 10)
    assert (fleet.counts["completed"], fleet.counts["failed"], fleet.counts["handed_over"]) == (TRIPS, 0, TRIPS)
    records = read_records(tmp_path / "igv-trips.jsonl")
    assert {r["vehicle"] for r in records if r["status"] == "completed"} == {f"{m}/{s}" for m, s, _ in LIB}
    assert not [r for r in records if r["status"] == "attempt_failed"]

    seen = wire.stop()
    messages = [(t, m) for t, m in seen.messages if t.startswith("uagv/")]
    topics = {t.rsplit("/", 1)[1] for t, _ in messages}
    assert {"order", "state", "connection"} <= topics
    invalid = [(t, e) for t, m in messages for e in reference_errors(t, m)]
    assert not invalid, invalid[:5]
    # the library's connection topic starts at header id 1 after its last will's 0; others strictly increase
    assert not header_ids_increase(messages)
    assert fleet.client.invalid == 0 and seen.bad_lines == 0
