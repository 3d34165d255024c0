"""Both real plugins end to end, gate_link's local transport and partner simulator with gate_igv's own
simulated vehicle: a cargo PASS from the partner's manifest dispatches a trip; at the hand-over point the
vehicle goes to the partner as a signed ``handover`` the simulator applies, and this side sends it nothing
more; the partner's ``handover`` back is applied by gate_igv, which takes the vehicle over and drives the
next consignment's trip with it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import gate_link
from gate_igv.client import VehicleId
from gate_igv.plugin import FLEET
from gate_igv.records import read_records
from gate_link import claims
from gate_link.messages import Handover
from gate_link.state import LinkSite
from gatecore.api import Outcome
from gatecore.testing import make_site, running, wait_for

from . import plate_claims
from .igv_kit import section
from .link_kit import manifest
from .test_igv_handover import SIMULATED
from .test_link_decision import CODE, SITE, _cross

VEHICLE = VehicleId("sim", "igv-1")


async def test_a_cargo_pass_hands_its_vehicle_to_the_partner_over_the_link_and_takes_it_back(tmp_path: Path) -> None:
    site, rec = make_site(SITE.format(state=tmp_path / "link") + section(tmp_path, None, vehicles=(), more=SIMULATED),
                          tmp_path, plugins={"plates": plate_claims})
    fleet = site.stash[FLEET]
    async with running(site, timeout=20):
        link = site.stash[gate_link.LINK]
        assert isinstance(link, LinkSite) and link.partner is not None
        partner = link.partner.endpoint
        applied: list[Handover] = []  # the hand-overs from this side the partner simulator applied
        partner.listeners.append(lambda outcomes: applied.extend(
            o.message for o in outcomes if isinstance(o.message, Handover) and o.status == "applied"))
        vehicle = fleet.vehicles.get(VEHICLE)
        await wait_for(lambda: vehicle.state is not None, 5)
        await partner.send("manifest", **manifest("DX-1", codes=(CODE,), plates=("51G-123.45",)))
        await wait_for(lambda: "DX-1" in link.index.by_consignment)
        plate_claims.READS.append(claims.make(["51G12345"], [CODE]))
        await _cross(site, rec, 1)
        assert rec.decisions[0].outcome is Outcome.PASS
        await wait_for(lambda: fleet.counts["handed_over"] == 1, 20)
        assert not vehicle.ours  # the link took the hand-over: released to the partner
        await wait_for(lambda: bool(applied), 10)

        plate_claims.READS.append(claims.make(["51G12345"], [CODE]))
        await _cross(site, rec, 2)  # a second consignment: the only vehicle is the partner's
        await wait_for(lambda: fleet.waiting, 5)
        orders = fleet.client.sent["order"]
        await asyncio.sleep(0.5)
        assert fleet.client.sent["order"] == orders  # nothing sent to a vehicle on the partner's side
        await partner.send("handover", trip="dx-trip-1", version=1, igv=str(VEHICLE), event="arrived",
                           point="handover", at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        await wait_for(lambda: fleet.counts["handed_over"] == 2, 20)
        await wait_for(lambda: len(read_records(tmp_path / "igv-trips.jsonl")) >= 9, 10)  # requested .. handed_over
    trips = read_records(tmp_path / "igv-trips.jsonl")
    first = next(r for r in trips if r["status"] == "completed")
    handed = applied[0]
    assert (handed.trip, handed.igv, handed.point, handed.event) == (
        first["trip"], str(VEHICLE), "handover", "arrived")
    taken = [r for r in trips if r["status"] == "taken_over"]
    assert [(r["trip"], r["vehicle"], r["lane"]) for r in taken] == [("dx-trip-1", str(VEHICLE), "igv")]
    assert [r["handover"] for r in trips if r["status"] == "handed_over"] == ["sent", "sent"]
    assert [r["vehicle"] for r in trips if r["status"] == "completed"] == [str(VEHICLE)] * 2
