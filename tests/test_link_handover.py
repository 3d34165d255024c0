"""IGV hand-overs cross the border through the partner-gate link: gate_igv's ``igv.handover`` partner
message goes out as a signed ``handover`` message and is receipted; the partner's hand-over back reaches
the owner of IGV hand-overs (``gatecore_partner_receive``) in gate_igv's own payload schema."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]

import gate_igv
import gate_link
from gate_link import store
from gate_link.state import LinkSite
from gatecore.api import PartnerMessage, SiteView, hookimpl
from gatecore.testing import make_site, running, wait_for

from .test_link_decision import SITE, plate_claims

IGV_SCHEMA = json.loads((Path(gate_igv.__file__).parent / "schemas" / "handover-1.json").read_text())


class HandoverOwner:
    """Stands in for gate_igv's receiving side: keeps what the link hands it."""

    def __init__(self) -> None:
        self.received: list[PartnerMessage] = []

    @hookimpl
    def gatecore_partner_receive(self, site: SiteView, message: PartnerMessage) -> bool | None:
        if message.kind != "igv.handover":
            return None
        self.received.append(message)
        return True


async def test_a_handover_goes_to_the_partner_signed_and_one_coming_back_reaches_its_owner(tmp_path: Path) -> None:
    owner = HandoverOwner()
    site, _ = make_site(SITE.format(state=tmp_path / "link"), tmp_path,
                        plugins={"plates": plate_claims, "owner": owner})
    out: dict[str, Any] = {"schema": "gatecore.igv.handover/1", "trip": "trip-0007", "manufacturer": "acme",
                           "serialNumber": "igv-7", "version": "3.0.0", "point": "bridge-km0", "node": "n9",
                           "loaded": True, "t_wall": time.time()}
    async with running(site):
        link = site.stash[gate_link.LINK]
        assert isinstance(link, LinkSite) and link.partner is not None
        partner = link.partner.endpoint
        assert await site.send_to_partner(PartnerMessage(site.id, "igv.handover", out)) is True
        assert await site.send_to_partner(PartnerMessage(site.id, "other.kind", {"a": 1})) is False  # not the link's
        await wait_for(lambda: partner.counts().get("applied", 0) >= 1, timeout=10)
        got = await partner.db.run(lambda conn: store.current(conn, "mong-cai", "handover"))
        assert await link.endpoint.drained(10)  # receipted
        await partner.send("handover", trip="dx-trip-12", version=1, igv="acme/igv-7", event="arrived",
                           point="bridge-km0", at="2026-12-02T03:00:00Z")
        await wait_for(lambda: len(owner.received) == 1, timeout=10)
    (_, _, body), = got
    sent = json.loads(body)
    assert (sent["trip"], sent["igv"], sent["point"], sent["event"]) == ("trip-0007", "acme/igv-7", "bridge-km0",
                                                                         "arrived")
    back = owner.received[0]
    jsonschema.validate(dict(back.payload), IGV_SCHEMA)
    assert (back.payload["trip"], back.payload["manufacturer"], back.payload["serialNumber"]) == \
        ("dx-trip-12", "acme", "igv-7")


async def test_the_partner_simulator_hands_each_igv_handed_over_back_after_hand_back_s(tmp_path: Path) -> None:
    owner = HandoverOwner()
    text = SITE.format(state=tmp_path / "link")
    assert "simulator = {" in text
    site, _ = make_site(text.replace("simulator = {", "simulator = { hand_back_s = 0.2,", 1), tmp_path,
                        plugins={"plates": plate_claims, "owner": owner})
    async with running(site):
        for n in (1, 2):
            out = {"schema": "gatecore.igv.handover/1", "trip": f"trip-000{n}", "manufacturer": "acme",
                   "serialNumber": f"igv-{n}", "version": "3.0.0", "point": "bridge-km0", "loaded": True,
                   "t_wall": time.time()}
            assert await site.send_to_partner(PartnerMessage(site.id, "igv.handover", out)) is True
        await wait_for(lambda: len(owner.received) == 2, timeout=10)
    backs = sorted((m.payload["serialNumber"], m.payload["point"]) for m in owner.received)
    assert backs == [("igv-1", "bridge-km0"), ("igv-2", "bridge-km0")]
    for m in owner.received:
        jsonschema.validate(dict(m.payload), IGV_SCHEMA)
