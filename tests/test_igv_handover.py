"""The hand-over at the bridge: a trip ending at the hand-over point releases its vehicle and hands an
``igv.handover`` message to the link (``gatecore_partner_send``); a released vehicle gets no order until
the partner hands it back (``gatecore_partner_receive``) and it is online, idle and at the point. Without
a link the hand-over is a record only and the vehicle stays in this side's fleet."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from gate_igv.bus import LocalBus
from gate_igv.client import VehicleId
from gate_igv.plugin import FLEET, SIMS
from gate_igv.records import read_records
from gatecore.api import PartnerMessage, SiteView, hookimpl
from gatecore.testing import make_site, running, wait_for

from . import scripted
from .conftest import SITE, lane_toml
from .igv_kit import section
from .test_igv_faults import clear_one

SIMULATED = 'simulate = [{ manufacturer = "sim", serial = "igv-1", version = "3.0.0" }]\nsim_speed = 100.0\n' \
            'sim_start = ["park-2"]\n'


class Link:
    """A link plugin that takes every message for the partner (as gate_link would, into its outbox)."""

    def __init__(self) -> None:
        self.sent: list[PartnerMessage] = []

    @hookimpl
    def gatecore_partner_send(self, site: SiteView, message: PartnerMessage) -> bool:
        self.sent.append(message)
        return True


def local_site(tmp: Path, link: Link | None) -> Any:
    plugins: dict[str, Any] = {"scripted": scripted}
    if link is not None:
        plugins["link"] = link
    return make_site(SITE + lane_toml("cargo-in-1") + section(tmp, None, vehicles=(), more=SIMULATED), tmp,
                     plugins=plugins)


def back(message: PartnerMessage, **change: Any) -> PartnerMessage:
    """The partner's hand-over of the same vehicle back to this side."""
    return PartnerMessage("dongxing/bridge", "igv.handover", {**message.payload, **change}, partner="dongxing/bridge")


async def test_a_vehicle_handed_over_gets_no_order_until_the_partner_hands_it_back(tmp_path: Path) -> None:
    link = Link()
    site, _ = local_site(tmp_path, link)
    fleet = site.stash[FLEET]
    async with running(site, timeout=20):
        vehicle = fleet.vehicles.get(VehicleId("sim", "igv-1"))
        await wait_for(lambda: vehicle.state is not None, 5)
        await clear_one(site)
        await wait_for(lambda: fleet.counts["handed_over"] == 1, 20)
        assert not vehicle.ours and [m.kind for m in link.sent] == ["igv.handover"]
        sent = link.sent[0]
        assert (sent.payload["serialNumber"], sent.payload["node"], sent.payload["loaded"]) == ("igv-1", "hp", True)
        await clear_one(site)  # a second consignment: the only vehicle is on the partner's side
        await wait_for(lambda: fleet.waiting, 5)
        orders = fleet.client.sent["order"]
        assert await site.partner_received(back(sent, node="exit-1"))  # handed back, but it is not there
        await asyncio.sleep(0.5)
        assert fleet.client.sent["order"] == orders and not vehicle.ours
        assert not await site.partner_received(back(sent, serialNumber="bad/serial"))  # fails the schema
        # what a link's own hand-over message carries is enough: no VDA 5050 version, no node (the point's)
        minimal = PartnerMessage("dongxing/bridge", "igv.handover", {k: v for k, v in sent.payload.items()
                                                                     if k not in ("version", "node", "loaded")})
        assert await site.partner_received(minimal)
        await wait_for(lambda: fleet.counts["completed"] == 2, 20)
    statuses = [r["status"] for r in read_records(tmp_path / "igv-trips.jsonl")]
    assert statuses.count("taken_over") == 1 and statuses.count("handed_over") == 2
    assert [r["handover"] for r in read_records(tmp_path / "igv-trips.jsonl") if r["status"] == "handed_over"] \
        == ["sent", "sent"]


async def test_without_a_link_the_hand_over_is_a_record_only_and_the_vehicle_stays(tmp_path: Path) -> None:
    site, _ = local_site(tmp_path, None)
    fleet = site.stash[FLEET]
    async with running(site, timeout=20):
        await wait_for(lambda: all(v.state is not None for v in fleet.vehicles.all.values()), 5)
        for _ in range(2):
            await clear_one(site)
        await wait_for(lambda: fleet.counts["completed"] == 2, 30)
    records = read_records(tmp_path / "igv-trips.jsonl")
    assert [r["handover"] for r in records if r["status"] == "handed_over"] == ["recorded", "recorded"]
    assert fleet.vehicles.get(VehicleId("sim", "igv-1")).ours


def test_a_partner_message_of_another_kind_is_not_ours(tmp_path: Path) -> None:
    site, _ = local_site(tmp_path, None)
    assert site.stash[FLEET].receive_handover(PartnerMessage("dongxing/bridge", "link.lane-status", {})) is None


async def test_a_vehicle_off_the_graph_is_sent_to_the_nearest_node_first(tmp_path: Path) -> None:
    site, _ = local_site(tmp_path, None)
    fleet = site.stash[FLEET]
    sim = site.stash[SIMS][0]
    sim.x, sim.y, sim.last_node_id = 12.0, 6.0, ""  # between two parking bays, on no node
    orders: list[dict[str, Any]] = []
    spy = LocalBus(fleet.broker)  # type: ignore[arg-type]
    spy.receiver = lambda topic, payload: orders.append(orjson.loads(payload))
    await spy.subscribe("uagv/+/+/+/order")
    async with running(site, timeout=20):
        spying = asyncio.create_task(spy.run())
        await wait_for(lambda: fleet.vehicles.get(VehicleId("sim", "igv-1")).state is not None, 5)
        await clear_one(site)
        await wait_for(lambda: fleet.counts["completed"] == 1, 20)
        spying.cancel()
    first = orders[0]
    start, join = first["nodes"][0], first["nodes"][1]
    assert start["nodeId"].endswith(".start") and (start["nodePosition"]["x"], start["nodePosition"]["y"]) == (12, 6)
    assert join["nodeId"] == "park-4"  # the nearest node of the graph, 6.3 m away
