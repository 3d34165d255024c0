"""What goes wrong on a trip, on a real Mosquitto, ends in a re-dispatch or a fault on the lane within the
configured time, never a silent stall: a vehicle that loses its connection (its last will), reports a FATAL
error, never takes its order, never shows a cancel, stays in e-stop; the broker restarting mid-trip."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from gate_igv.control import FleetControl
from gate_igv.plugin import FLEET
from gate_igv.records import read_records
from gate_igv.vehicle_sim import VehicleSim
from gate_ioc.testing import Broker, Subscriber
from gatecore.api import LaneState, Site
from gatecore.testing import Recorder, make_site, running, wait_for

from . import scripted
from .conftest import SITE, lane_toml
from .igv_kit import SLOW, broker, section, sims_running, wire
from .test_core_lane import cross

__all__ = ["broker", "wire"]  # fixtures
A, B = ("acme", "igv-a", "2.1.0"), ("acme", "igv-b", "3.0.0")
STARTS = ("park-6", "park-1")  # A is nearer the lane's exit


@asynccontextmanager
async def site_with(tmp: Path, broker: Broker, vehicles: Sequence[tuple[str, str, str]] = (A, B),
                    **timing: Any) -> AsyncIterator[tuple[Site, Recorder, FleetControl, dict[str, VehicleSim]]]:
    site, rec = make_site(SITE + lane_toml("cargo-in-1") + section(tmp, broker.port, vehicles=vehicles, **timing)
                          .replace("base_nodes = 3", "base_nodes = 1"), tmp, plugins={"scripted": scripted})
    fleet = site.stash[FLEET]
    async with sims_running(broker.port, vehicles, SLOW, STARTS) as sims, running(site, timeout=20):
        await wait_for(lambda: all(v.state is not None for v in fleet.vehicles.all.values()), 10)
        yield site, rec, fleet, sims


async def clear_one(site: Site) -> None:
    await cross(site, "cargo-in-1")
    await wait_for(lambda: site.lanes["cargo-in-1"].state is LaneState.IDLE, 5)


def steps(tmp: Path) -> list[tuple[str, str | None, str | None]]:
    return [(r["status"], r["vehicle"], r["reason"]) for r in read_records(tmp / "igv-trips.jsonl")]


def ended(fleet: FleetControl, n: int = 1) -> bool:
    return fleet.counts["completed"] + fleet.counts["failed"] >= n


def to(wire: Subscriber, serial: str, topic: str) -> list[dict[str, Any]]:
    return [m for t, m in wire.received.messages if t.endswith(f"/{serial}/{topic}")]


async def test_a_vehicle_whose_connection_breaks_mid_trip_is_replaced(tmp_path: Path, broker: Broker,
                                                                      wire: Subscriber) -> None:
    async with site_with(tmp_path, broker, (("acme", "igv-a", "2.0.0"), B)) as (site, rec, fleet, sims):
        await clear_one(site)
        await wait_for(lambda: sims["igv-a"].orders >= 1, 5)
        sims["igv-a"].disconnect(4.0)  # the broker publishes its last will: CONNECTIONBROKEN
        await wait_for(lambda: ended(fleet), 30)
        assert fleet.counts["completed"] == 1
        await wait_for(lambda: fleet.vehicles.get(sims["igv-a"].vehicle).blocked is None, 15)  # back: cancelled, free
    assert ("attempt_failed", "acme/igv-a", "vehicle_lost") in steps(tmp_path)
    assert ("completed", "acme/igv-b", None) in steps(tmp_path)
    wills = [m for m in to(wire, "igv-a", "connection") if m["connectionState"] == "CONNECTIONBROKEN"]
    assert wills and not rec.faults


async def test_a_fatal_error_is_cancelled_and_the_trip_goes_to_another_vehicle(tmp_path: Path, broker: Broker,
                                                                             wire: Subscriber) -> None:
    async with site_with(tmp_path, broker, (("acme", "igv-a", "3.0.0"), B)) as (site, rec, fleet, sims):
        await clear_one(site)
        await wait_for(lambda: sims["igv-a"].orders >= 1, 5)
        sims["igv-a"].fail("LOCALIZATION_ERROR", "FATAL")
        await wait_for(lambda: ended(fleet), 30)
    assert ("attempt_failed", "acme/igv-a", "vehicle_fatal") in steps(tmp_path)
    assert ("completed", "acme/igv-b", None) in steps(tmp_path) and not rec.faults
    cancels = [a for m in to(wire, "igv-a", "instantActions") for a in m["actions"]]
    assert [a["actionType"] for a in cancels] == ["cancelOrder"]
    assert sims["igv-a"].cancelled and not sims["igv-a"].nodes  # it stopped; nothing more was sent to it
    assert to(wire, "igv-a", "order")[-1]["timestamp"] < to(wire, "igv-a", "instantActions")[0]["timestamp"]


async def test_an_order_never_acknowledged_is_resent_then_given_to_another_vehicle(tmp_path: Path, broker: Broker,
                                                                                 wire: Subscriber) -> None:
    async with site_with(tmp_path, broker) as (site, _, fleet, sims):
        sims["igv-a"].deaf = True  # takes no order, and never shows one in its state
        await clear_one(site)
        await wait_for(lambda: ended(fleet), 30)
    assert ("attempt_failed", "acme/igv-a", "order_not_acknowledged") in steps(tmp_path)
    assert ("completed", "acme/igv-b", None) in steps(tmp_path)
    orders = to(wire, "igv-a", "order")
    assert len(orders) == 1 + 2 and len({m["headerId"] for m in orders}) == 3  # sent, resent twice (resends = 2)
    assert not to(wire, "igv-a", "instantActions")  # it never held the order: no cancel to an idle vehicle


async def test_a_cancel_the_vehicle_never_shows_is_not_resent_for_ever(tmp_path: Path, broker: Broker,
                                                                      wire: Subscriber) -> None:
    async with site_with(tmp_path, broker, (("acme", "igv-a", "3.0.0"), B)) as (site, _, fleet, sims):
        sims["igv-a"].unreflected = {"cancelOrder"}
        await clear_one(site)
        await wait_for(lambda: sims["igv-a"].orders >= 1, 5)
        sims["igv-a"].fail("LOCALIZATION_ERROR", "FATAL")
        await wait_for(lambda: ended(fleet), 30)
        assert fleet.vehicles.get(sims["igv-a"].vehicle).blocked == "unresponsive"
    assert ("completed", "acme/igv-b", None) in steps(tmp_path)
    cancels = [a for m in to(wire, "igv-a", "instantActions") for a in m["actions"]]
    assert len(cancels) == 1 + 2 and len({a["actionId"] for a in cancels}) == 1  # one cancel, resent twice


async def test_a_trip_that_cannot_be_completed_ends_in_a_fault_on_the_lane(tmp_path: Path, broker: Broker) -> None:
    async with site_with(tmp_path, broker, (A,), vehicle_s=1.0) as (site, rec, fleet, sims):
        await clear_one(site)
        await wait_for(lambda: sims["igv-a"].orders >= 1, 5)
        sims["igv-a"].estop()  # and no other vehicle to take the trip
        await wait_for(lambda: ended(fleet), 30)
        await wait_for(lambda: rec.faults, 5)
    assert ("attempt_failed", "acme/igv-a", "vehicle_estop") in steps(tmp_path)
    assert ("failed", None, "no_vehicle") in steps(tmp_path)
    fault = rec.faults[0].to_record()
    assert (fault["kind"], fault["plugin"], fault["lane"], fault["message"]) == (
        "plugin_reported", "gate_igv", "cargo-in-1", "gate_igv reported igv_no_vehicle")


async def test_a_broker_restart_mid_trip_does_not_stall_it(tmp_path: Path, broker: Broker) -> None:
    async with site_with(tmp_path, broker, (A,)) as (site, _, fleet, sims):
        await clear_one(site)
        await wait_for(lambda: sims["igv-a"].orders >= 1, 5)
        broker.kill()
        broker.start()
        await wait_for(lambda: ended(fleet), 40)
        await wait_for(lambda: any(s == "handed_over" for s, _, _ in steps(tmp_path)), 10)
    assert fleet.counts["completed"] == 1 and fleet.bus.connects >= 2  # type: ignore[attr-defined]
