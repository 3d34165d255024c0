"""Messages to and from the partner gate go through the core (``gatecore_partner_send`` and
``gatecore_partner_receive``): a plugin hands a message to whichever link plugin carries it, and a link
hands what arrived to the plugin that owns its kind, without either importing the other."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gatecore.api import PartnerMessage, SiteView, hookimpl
from gatecore.testing import BareSite, make_site

from . import scripted
from .conftest import SITE, lane_toml


class Link:
    """A link plugin that carries messages to one partner and keeps them (its 'outbox')."""

    def __init__(self, partner: str = "", fail: bool = False) -> None:
        self.partner, self.fail = partner, fail
        self.sent: list[PartnerMessage] = []

    @hookimpl
    async def gatecore_partner_send(self, site: SiteView, message: PartnerMessage) -> bool | None:
        if self.fail:
            raise OSError("disk full")
        if message.partner not in ("", self.partner):
            return None
        await asyncio.sleep(0)
        self.sent.append(message)
        return True


class Owner:
    """The plugin that owns ``igv.handover`` messages: handles well-formed ones, refuses the others."""

    def __init__(self) -> None:
        self.handled: list[PartnerMessage] = []

    @hookimpl
    def gatecore_partner_receive(self, site: SiteView, message: PartnerMessage) -> bool | None:
        if message.kind != "igv.handover":
            return None
        if "vehicle" not in message.payload:
            return False
        self.handled.append(message)
        return True


def handover(**payload: object) -> PartnerMessage:
    return PartnerMessage("mong-cai/bl2", "igv.handover", payload or {"vehicle": "acme/igv-7"}, partner="dongxing")


async def test_a_message_sent_to_the_partner_reaches_the_link_that_carries_it(tmp_path: Path) -> None:
    link = Link("dongxing")
    site, _ = make_site(SITE + lane_toml(), tmp_path, plugins={"scripted": scripted, "link": link,
                                                                   "other": Link("elsewhere")})
    assert await site.send_to_partner(handover())
    assert [m.kind for m in link.sent] == ["igv.handover"]


async def test_without_a_link_a_message_to_the_partner_is_not_taken(tmp_path: Path) -> None:
    site, _ = make_site(SITE + lane_toml(), tmp_path, plugins={"scripted": scripted})
    assert not await site.send_to_partner(handover())


async def test_a_link_that_fails_has_not_taken_the_message(tmp_path: Path) -> None:
    site, _ = make_site(SITE + lane_toml(), tmp_path, plugins={"scripted": scripted,
                                                                   "link": Link("dongxing", fail=True)})
    assert not await site.send_to_partner(handover())


async def test_a_message_from_the_partner_is_handled_by_the_owner_of_its_kind(tmp_path: Path) -> None:
    owner = Owner()
    site, _ = make_site(SITE + lane_toml(), tmp_path, plugins={"scripted": scripted, "owner": owner})
    assert await site.partner_received(handover())
    assert not await site.partner_received(handover(other="x"))  # the owner refused it
    assert not await site.partner_received(PartnerMessage("dongxing", "link.lane-status", {"lane": "c1"}))
    assert len(owner.handled) == 1


def test_a_partner_message_is_plain_json_read_only_and_round_trips() -> None:
    message = handover(vehicle="acme/igv-7", at={"node": "h1", "x": 1.5})
    with pytest.raises(TypeError):
        message.payload["vehicle"] = "other"  # type: ignore[index]
    assert PartnerMessage.from_record(message.to_record()) == message
    with pytest.raises(ValueError, match="a value of type object"):
        PartnerMessage("s", "igv.handover", {"when": object()})
    with pytest.raises(ValueError, match="kind"):
        PartnerMessage("s", "IGV Handover", {})


async def test_the_test_kit_keeps_what_is_sent_to_the_partner() -> None:
    site = BareSite(partner_link=True)
    assert await site.send_to_partner(handover())
    assert [m.kind for m in site.to_partner] == ["igv.handover"]


async def test_a_plugin_reports_a_fault_on_a_lane_with_its_name_and_code(tmp_path: Path) -> None:
    site, rec = make_site(SITE + lane_toml(), tmp_path, plugins={"scripted": scripted})
    await site.plugin_fault("l1", "gate_igv", "vehicle_lost", txn_id=None)
    await site.plugin_fault("l1", "gate_igv", "Vehicle IGV-7 of NGUYEN VAN A lost")  # free text never leaves
    records = [f.to_record() for f in rec.faults]
    assert [(r["kind"], r["plugin"], r["lane"]) for r in records] == [("plugin_reported", "gate_igv", "l1")] * 2
    assert records[0]["message"] == "gate_igv reported vehicle_lost"
    assert "NGUYEN" not in records[1]["message"]
    with pytest.raises(ValueError, match="no lane"):
        await site.plugin_fault("nowhere", "gate_igv", "vehicle_lost")
