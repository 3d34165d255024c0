"""A fleet control restarted mid-trip, on a real Mosquitto with the simulator: the new one reads the trips
under way from the journal beside its outbox and follows the same vehicle on the same order from the
update it sent last, so the trip completes once, with its hand-over and exactly one completion record;
a vehicle that did not stay is lost within ``reconnect_s`` and the trip ends with a fault, never a stall
(as one with the load: nothing since the restart says it was not picked, so no second vehicle is sent
for it); a vehicle handed over to the partner stays the partner's until it is handed back; header ids count on over
the restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from gate_igv.client import VehicleId
from gate_igv.control import FleetControl
from gate_igv.journal import TRIP, Journal, default_dir
from gate_igv.plugin import FLEET, SIMS
from gate_igv.records import read_records
from gate_igv.vehicle_sim import VehicleSim
from gate_ioc.testing import Broker, Subscriber
from gatecore.api import Site
from gatecore.testing import Recorder, make_site, running, wait_for

from . import scripted
from .conftest import SITE, lane_toml
from .igv_kit import NODES, SLOW, broker, reference_errors, section, sims_running, wire
from .test_igv_faults import clear_one
from .test_igv_handover import Link, back, local_site

__all__ = ["broker", "wire"]  # fixtures
A = ("acme", "igv-a", "2.1.0")
SIM = VehicleId("sim", "igv-1")  # test_igv_handover's simulated vehicle


def new_site(tmp: Path, broker: Broker, **timing: float) -> tuple[Site, Recorder]:
    """A site on ``tmp``'s state (the same outbox, journal and records file each time)."""
    return make_site(SITE + lane_toml("cargo-in-1") + section(tmp, broker.port, vehicles=(A,), base=1, **timing),
                     tmp, plugins={"scripted": scripted})


async def stopped_mid_trip(tmp: Path, broker: Broker, sim: VehicleSim, until: Callable[[], bool]) -> FleetControl:
    """A first controller that dispatches a trip to ``sim`` and stops once ``until()``."""
    first, _ = new_site(tmp, broker)
    fleet = first.stash[FLEET]
    async with running(first, timeout=20):
        await wait_for(lambda: fleet.vehicles.get(sim.vehicle).state is not None, 10)
        await clear_one(first)
        await wait_for(until, 10)
    return fleet


def statuses(tmp: Path) -> list[str]:
    return [r["status"] for r in read_records(tmp / "igv-trips.jsonl")]


async def test_a_trip_under_way_when_the_controller_stops_completes_once_after_a_restart(
        tmp_path: Path, broker: Broker, wire: Subscriber) -> None:
    async with sims_running(broker.port, (A,), SLOW, ("park-1",)) as sims:
        sim = sims["igv-a"]
        fleet = await stopped_mid_trip(tmp_path, broker, sim, lambda: sim.orders >= 2)  # order and update taken
        assert fleet.counts["completed"] == 0 and sim.order_id
        order = sim.order_id
        await asyncio.sleep(1.0)  # the vehicle drives on to the end of what was released, then waits
        journal = Journal(default_dir(str(tmp_path / "igv-outbox.sqlite")))
        assert len(await journal.load(TRIP)) == 1

        second, rec = new_site(tmp_path, broker)
        again = second.stash[FLEET]
        async with running(second, timeout=20):
            await wait_for(lambda: again.counts["completed"] == 1, 30)
            await wait_for(lambda: statuses(tmp_path).count("handed_over") == 1, 10)
        assert sim.order_id == order  # the same order, followed on: not dispatched again
    steps = statuses(tmp_path)
    assert [s for s in steps if s != "requested"] == ["dispatched", "completed", "handed_over"]
    assert steps.count("requested") == 1 and not rec.faults
    assert await journal.load(TRIP) == {}
    seen = wire.stop()
    orders = [m for t, m in seen.messages if t.endswith("/igv-a/order")]
    assert {m["orderId"] for m in orders} == {order}
    for topic in ("order", "instantActions"):  # counted on over the restart, never from 0 again
        ids = [m["headerId"] for t, m in seen.messages if t.endswith(f"/igv-a/{topic}")]
        assert ids == sorted(set(ids)), (topic, ids)
    assert len(orders) > 2  # the order and its first update before the restart, more updates after it
    assert not [(t, e) for t, m in seen.messages if t.startswith("uagv/") for e in reference_errors(t, m)]


async def test_a_vehicle_gone_while_the_controller_was_down_fails_the_trip_within_reconnect_s(
        tmp_path: Path, broker: Broker) -> None:
    async with sims_running(broker.port, (A,), SLOW, ("park-1",)) as sims:
        sim = sims["igv-a"]
        await stopped_mid_trip(tmp_path, broker, sim, lambda: bool(sim.loads))  # the load is on it
        sim.disconnect(60)  # its link cut: the broker publishes its last will

        second, rec = new_site(tmp_path, broker, vehicle_s=2)
        again = second.stash[FLEET]
        async with running(second, timeout=20):
            await wait_for(lambda: again.counts["failed"] == 1, 10)
            await wait_for(lambda: rec.faults, 5)
            await wait_for(lambda: "failed" in statuses(tmp_path), 10)
    records = read_records(tmp_path / "igv-trips.jsonl")
    assert [(r["status"], r["reason"]) for r in records if r["status"] in ("attempt_failed", "failed")] == [
        ("attempt_failed", "vehicle_lost"), ("failed", "vehicle_lost_loaded")]
    assert "completed" not in statuses(tmp_path)
    assert rec.faults[0].to_record()["message"] == "gate_igv reported igv_vehicle_lost_loaded"


async def test_a_vehicle_handed_over_stays_the_partners_over_a_restart(tmp_path: Path) -> None:
    link = Link()
    site, _ = local_site(tmp_path, link)
    async with running(site, timeout=20):
        fleet = site.stash[FLEET]
        await wait_for(lambda: fleet.vehicles.get(SIM).state is not None, 5)
        await clear_one(site)
        await wait_for(lambda: fleet.counts["handed_over"] == 1, 20)
    again, _ = local_site(tmp_path, link)
    sim = again.stash[SIMS][0]  # the in-process vehicle is made again: where the first one stopped
    sim.x, sim.y, sim.last_node_id = *NODES["hp"], "hp"
    async with running(again, timeout=20):
        vehicle = again.stash[FLEET].vehicles.get(SIM)
        await wait_for(lambda: vehicle.state is not None, 5)
        assert not vehicle.ours  # no order for it until the partner hands it back
        assert again.stash[FLEET].receive_handover(back(link.sent[0]))
        await wait_for(lambda: vehicle.ours, 10)


def entries(journal: Path, write: bool = False) -> list[str]:
    if write:
        journal.mkdir(parents=True)
        (journal / "trip-bad.json").write_text("{not json")
        (journal / "trip-partial.json").write_text('{"lane": "cargo-in-1"}')  # no trip id, no times
    return sorted(p.name for p in journal.iterdir())


async def test_a_journal_entry_it_cannot_read_is_kept_and_the_fleet_runs_on(tmp_path: Path) -> None:
    journal = Path(default_dir(str(tmp_path / "igv-outbox.sqlite")))
    kept = entries(journal, write=True)
    site, _ = local_site(tmp_path, None)
    fleet = site.stash[FLEET]
    async with running(site, timeout=20):
        await wait_for(lambda: fleet.vehicles.get(SIM).state is not None, 5)
        await clear_one(site)
        await wait_for(lambda: fleet.counts["completed"] == 1, 20)
    trips = [name for name in entries(journal) if name.startswith("trip-")]  # beside the header reservations
    assert trips == kept == ["trip-bad.json", "trip-partial.json"]
