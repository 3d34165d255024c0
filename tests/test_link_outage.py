"""The link down for the length of 1,000 crossings, the controller restarted twice meanwhile, then restored:
every message of both sides is applied exactly once, in order per subject, and receipted."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from pathlib import Path

from gate_link.endpoint import Endpoint

from .link_kit import FAST, applied, manifest, new_link, serving, tls_broker, wait_until

CROSSINGS = int(os.environ.get("GATECORE_LINK_CROSSINGS", "1000"))
CONSIGNMENTS = 300  # so that most consignments get several updates while the link is down


async def _crossing(ctl: Endpoint, partner: Endpoint, i: int) -> tuple[str, ...]:
    """What one crossing makes: the partner's manifest (an update of a consignment), the controller's
    clearance, now and then a hand-over and a lane status."""
    c = f"DX-{i % CONSIGNMENTS:04d}"
    ids = [await partner.send("manifest", **manifest(c, version=i // CONSIGNMENTS + 1)),
           await ctl.send("clearance", consignment=c, version=i + 1, lane=f"cargo-in-{i % 2}", outcome="pass",
                          reasons=["matched"], decided="2026-11-27T18:00:00Z")]
    if i % 10 == 0:
        ids.append(await partner.send("handover", trip=f"igv-{i % 3}/{i}", version=1, igv=f"igv-{i % 3}",
                                      event="arrived", point="bridge-km0", at="2026-11-27T18:00:00Z"))
    if i % 50 == 0:
        ids.append(await ctl.send("lane-status", lane=f"cargo-in-{i % 2}", version=i + 1,
                                  status="open" if i % 100 else "degraded", at="2026-11-27T18:00:00Z"))
    return tuple(ids)


def _in_order(rows: list[tuple[str, str, str, int]]) -> bool:
    last: dict[str, int] = defaultdict(int)
    for _, _, subject, version in rows:
        if version <= last[subject]:
            return False
        last[subject] = version
    return True


async def test_a_long_outage_with_two_controller_restarts_loses_nothing_and_applies_everything_once(
        tmp_path: Path) -> None:
    broker, pki = tls_broker(tmp_path / "broker")
    broker.start()
    link = new_link(broker, pki, tmp_path, FAST)
    sim = link.partner()
    try:
        async with serving(sim.endpoint) as partner:
            async with serving(link.controller()):
                pass  # both sides have met the broker (their persistent sessions exist)
            broker.stop()  # the link is down from here
            sent: list[str] = []
            for part in range(3):  # the controller restarted twice while the link is down
                async with serving(link.controller(), connected=False) as ctl:
                    for i in range(part * CROSSINGS // 3, (part + 1) * CROSSINGS // 3):
                        sent += await _crossing(ctl, partner, i)
            assert (await partner.outbox.status()).pending > CROSSINGS
            broker.start()  # restored
            restored = time.monotonic()
            async with serving(link.controller(), connected=False) as ctl:
                await wait_until(lambda: ctl.wire.connected.is_set(), 30)
                assert await ctl.drained(120) and await partner.drained(120)
                drained_s = time.monotonic() - restored
                got_ctl, got_partner = await applied(ctl), await applied(partner)
                ctl_counts, partner_counts = ctl.counts(), partner.counts()
    finally:
        broker.stop()
    ids = [row[0] for row in got_ctl + got_partner]
    assert len(ids) == len(set(ids)) == len(sent)  # exactly once, each of them
    assert set(ids) == set(sent)
    assert _in_order(got_ctl) and _in_order(got_partner)
    assert {row[1] for row in got_ctl} == {"manifest", "handover"}
    assert {row[1] for row in got_partner} == {"clearance", "lane-status"}
    assert set(ctl_counts) <= {"applied", "duplicate", "receipt", "stale", "replay"}, ctl_counts
    print(f"{CROSSINGS} crossings, {len(sent)} messages applied once each, backlog drained in {drained_s:.1f} s; "
          f"controller {ctl_counts}, partner {partner_counts}")
