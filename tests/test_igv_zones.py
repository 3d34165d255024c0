"""VDA 5050 3.0 zones: each 3.0 vehicle gets the profile's zone set and enables it; a RELEASE zone is
GRANTED to one vehicle at a time with a lease that is renewed while it holds it, the others are QUEUED and
GRANTED in turn, a zone the set does not have is REJECTED; every zoneSet and responses message is valid."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from gate_igv.bus import LocalBus
from gate_igv.plugin import FLEET, SIMS
from gatecore.testing import make_site, running, wait_for

from . import scripted
from .conftest import SITE, lane_toml
from .igv_kit import reference_errors, section

ZONES = """
simulate = [
  { manufacturer = "sim", serial = "a", version = "3.0.0" },
  { manufacturer = "sim", serial = "b", version = "3.0.0" },
]
sim_start = ["park-1", "park-2"]
[plugins.gate_igv.zones]
zone_set_id = "bridge-v1"
lease_s = 3.0
zones = [
  { id = "span", type = "RELEASE", vertices = [[60.0, 5.0], [100.0, 5.0], [100.0, 15.0], [60.0, 15.0]] },
  { id = "apron", type = "SPEED_LIMIT", maximum_speed = 2.0, vertices = [[0.0, 0.0], [20.0, 0.0], [20.0, 20.0]] },
]
"""


async def test_a_release_zone_is_held_by_one_vehicle_at_a_time_with_a_renewed_lease(tmp_path: Path) -> None:
    text = SITE + lane_toml("cargo-in-1") + section(tmp_path, None, vehicles=(), more=ZONES)
    site, _ = make_site(text, tmp_path, plugins={"scripted": scripted})
    fleet = site.stash[FLEET]
    seen: list[tuple[str, dict[str, Any]]] = []
    spy = LocalBus(fleet.broker)  # type: ignore[arg-type]
    spy.receiver = lambda topic, payload: seen.append((topic, orjson.loads(payload)))
    await spy.subscribe("uagv/#")
    async with running(site, timeout=20):
        spy_task = asyncio.create_task(spy.run())
        a, b = site.stash[SIMS]
        await wait_for(lambda: all(s.zone_sets.get("bridge-v1", ["", ""])[1] == "ENABLED" for s in (a, b)), 5)
        ra = a.request_zone("span", "bridge-v1")
        await wait_for(lambda: a.zone_requests[ra][2] == "GRANTED", 5)
        rb = b.request_zone("span", "bridge-v1")
        await wait_for(lambda: b.answers.get(rb) == "QUEUED", 5)
        first = a.leases[ra]
        await wait_for(lambda: a.leases[ra] != first, 5)  # renewed while a holds it
        assert b.zone_requests[rb][2] == "REQUESTED"  # queued: the 3.0 state schema has no QUEUED status
        a.leave_zone(ra)
        await wait_for(lambda: b.zone_requests[rb][2] == "GRANTED", 5)
        ghost = a.request_zone("nowhere", "bridge-v1")
        await wait_for(lambda: ghost not in a.zone_requests, 5)  # REJECTED: the request is dropped
        apron = a.request_zone("apron", "bridge-v1")
        await wait_for(lambda: a.zone_requests.get(apron, ["", "", ""])[2] == "GRANTED", 5)
        spy_task.cancel()
    topics = {t.rsplit("/", 1)[1] for t, _ in seen}
    assert {"zoneSet", "responses", "instantActions", "state"} <= topics
    assert not [(t, e) for t, m in seen for e in reference_errors(t, m)]
    grants = [r["grantType"] for t, m in seen if t.endswith("/responses") for r in m["responses"]]
    assert {"GRANTED", "QUEUED", "REJECTED"} <= set(grants)
    assert fleet.zones is not None and fleet.zones.holders["span"].vehicle.serial == "b"
