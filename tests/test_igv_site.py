"""gate_igv in a running site on a real Mosquitto: a cargo lane's PASS dispatches a VDA 5050 vehicle from the
lane's exit to the hand-over point on the bridge, and every message on the wire is the standard's."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]

import gate_igv
from gate_igv.plugin import FLEET
from gate_igv.records import read_records
from gate_ioc.testing import Broker, Subscriber
from gatecore.api import LaneState, Outcome
from gatecore.testing import make_site, running, wait_for

from . import scripted
from .conftest import SITE, lane_toml
from .igv_kit import SIX, broker, header_ids_increase, reference_errors, section, sims_running, wire
from .test_core_lane import cross

__all__ = ["broker", "wire"]  # fixtures
TRIP_SCHEMA = json.loads((Path(gate_igv.__file__).parent / "schemas" / "trip-1.json").read_text())


async def test_fifty_consignments_cleared_make_fifty_trips_handed_over_with_every_message_valid(
        tmp_path: Path, broker: Broker, wire: Subscriber) -> None:
    site, rec = make_site(SITE + lane_toml("cargo-in-1") + section(tmp_path, broker.port, vehicles=SIX, vehicle_s=300),
                          tmp_path, plugins={"scripted": scripted})
    fleet = site.stash[FLEET]
    async with sims_running(broker.port, SIX) as sims, running(site, timeout=20):
        await wait_for(lambda: all(v.state is not None for v in fleet.vehicles.all.values()), 10)
        lane = site.lanes["cargo-in-1"]
        for _ in range(50):
            await cross(site, "cargo-in-1")
            await wait_for(lambda: lane.state is LaneState.IDLE, 5)
        await wait_for(lambda: fleet.counts["completed"] + fleet.counts["failed"] >= 50, 120)
        await wait_for(lambda: len([r for r in read_records(tmp_path / "igv-trips.jsonl")
                                    if r["status"] == "handed_over"]) >= 50, 10)
    assert sum(1 for d in rec.decisions if d.outcome is Outcome.PASS) == 50
    assert (fleet.counts["completed"], fleet.counts["failed"], fleet.counts["handed_over"]) == (50, 0, 50)
    igv = site.summary()["igv"]  # the run's summary has the fleet's figures
    assert (igv["trips"], igv["completed"], igv["handed_over"]) == (50, 50, 50)
    assert sum(sim.orders for sim in sims.values()) >= 50 * 2  # each trip's base was extended at least once
    records = read_records(tmp_path / "igv-trips.jsonl")
    for record in records:
        jsonschema.validate(record, TRIP_SCHEMA)
    handed = [r for r in records if r["status"] == "handed_over"]
    assert len(handed) == 50 and {r["handover"] for r in handed} == {"recorded"}  # no link: a record only
    assert {r["version"] for r in records if r["vehicle"]} == {"2.0.0", "2.1.0", "3.0.0"}

    seen = wire.stop()
    messages = [(t, m) for t, m in seen.messages if t.startswith("uagv/")]
    topics = {t.rsplit("/", 1)[1] for t, _ in messages}
    assert {"order", "state", "connection", "factsheet", "visualization"} <= topics
    invalid = [(t, e) for t, m in messages for e in reference_errors(t, m)]
    assert not invalid, invalid[:5]
    assert not header_ids_increase(messages)
    assert fleet.client.invalid == 0 and seen.bad_lines == 0


async def test_a_decision_that_is_not_a_pass_dispatches_nothing(tmp_path: Path, broker: Broker) -> None:
    site, rec = make_site(SITE + lane_toml("cargo-in-1") + section(tmp_path, broker.port), tmp_path,
                          plugins={"scripted": scripted})
    fleet = site.stash[FLEET]
    async with sims_running(broker.port), running(site, timeout=20):
        site.stash[scripted.SCRIPT]["a"] = [scripted.Answer(Outcome.DENY)]
        site.lanes["cargo-in-1"].devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(lambda: rec.decisions, 5)
        site.lanes["cargo-in-1"].devices["entry"].set(False)  # type: ignore[attr-defined]
    assert rec.decisions[0].outcome is Outcome.DENY
    assert not read_records(tmp_path / "igv-trips.jsonl") and fleet.client.sent["order"] == 0
