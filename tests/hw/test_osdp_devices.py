"""The core's device models over OSDP, against a libosdp I/O board / reader."""

from __future__ import annotations

from collections.abc import Callable

import osdp  # type: ignore[import-untyped]
from hw_helpers import until

from firmware_bridge.devices.hubs import OsdpHub
from firmware_bridge.devices.osdp import OsdpBarrier, OsdpDisplay, OsdpLights, OsdpPresence, OsdpReader, card_text
from firmware_bridge.osdp.cp import PdConfig
from firmware_bridge.osdp.messages import LedColor, OutputControl
from firmware_bridge.testing.osdp_peer import LibosdpPd, PtyBus
from gatecore.api import (
    Aspect,
    BarrierMoved,
    BarrierPosition,
    DeviceContext,
    DeviceEvent,
    DeviceOffline,
    DeviceOnline,
    PresenceChanged,
    Scanned,
)
from gatecore.testing import BareSite


def context(role: str, events: list[DeviceEvent]) -> DeviceContext:
    return DeviceContext(BareSite(), "lane", role, "osdp.test", events.append)


def hub_for(bus: PtyBus) -> OsdpHub:
    return OsdpHub(bus.path, [PdConfig(1)], reply_timeout=0.2, poll_interval=0.01, backoff_initial=0.05)


async def test_barrier_on_a_relay_confirms_by_ack_without_limit_switches(
    bus: PtyBus, make_pd: Callable[..., LibosdpPd]
) -> None:
    pd = make_pd(1)
    events: list[DeviceEvent] = []
    barrier = OsdpBarrier(context("barrier", events), hub_for(bus), 1, output=2)
    await barrier.start()
    try:
        await until(lambda: barrier.hub.cp.is_online(1))
        seen = []
        await barrier.open()
        seen.append((pd.outputs(), barrier.position))
        await barrier.close()
        seen.append((pd.outputs(), barrier.position))
        assert seen == [({2: OutputControl.ON}, BarrierPosition.OPEN), ({2: OutputControl.OFF}, BarrierPosition.CLOSED)]
    finally:
        await barrier.stop()
    moves = [e.position for e in events if isinstance(e, BarrierMoved)]
    assert moves == [BarrierPosition.OPEN, BarrierPosition.CLOSED]


async def test_barrier_and_loop_share_one_bus_and_follow_the_inputs(
    bus: PtyBus, make_pd: Callable[..., LibosdpPd]
) -> None:
    pd = make_pd(1)
    events: list[DeviceEvent] = []
    hub = hub_for(bus)
    barrier = OsdpBarrier(context("barrier", events), hub, 1, output=0, open_input=0, closed_input=1)
    loop = OsdpPresence(context("entry", events), hub, 1, input_no=2)
    await barrier.start()
    await loop.start()
    try:
        await until(lambda: hub.cp.is_online(1))
        await barrier.open()
        assert barrier.position is BarrierPosition.MOVING  # commanded, not yet confirmed
        pd.inputs([1, 0, 1, 0])  # open limit made, entry loop occupied
        await until(lambda: barrier.position is BarrierPosition.OPEN and loop.occupied)
        pd.inputs([0, 1, 0, 0])
        await until(lambda: barrier.position is BarrierPosition.CLOSED and not loop.occupied)
    finally:
        await loop.stop()
        await barrier.stop()
    assert [e.occupied for e in events if isinstance(e, PresenceChanged)] == [True, False]


async def test_reader_lights_and_display(bus: PtyBus, make_pd: Callable[..., LibosdpPd]) -> None:
    pd = make_pd(1)
    events: list[DeviceEvent] = []
    hub = hub_for(bus)
    reader = OsdpReader(context("reader", events), hub, 1)
    lights = OsdpLights(context("lights", events), hub, 1, led=1)
    display = OsdpDisplay(context("display", events), hub, 1)
    for device in (reader, lights, display):
        await device.start()
    try:
        await until(lambda: hub.cp.is_online(1))
        pd.card(b"VN-PASS-42")
        pd.keypad(b"0427")
        await until(lambda: len([e for e in events if isinstance(e, Scanned)]) == 2)
        await lights.show(Aspect.GREEN)
        await display.show_text("proceed")
    finally:
        for device in (display, lights, reader):
            await device.stop()
    scans = [(e.text, e.data) for e in events if isinstance(e, Scanned)]
    assert scans == [("VN-PASS-42", b"VN-PASS-42"), ("0427", b"0427")]
    (led,) = pd.commands(osdp.Command.LED)
    assert (led["led_number"], led["on_color"]) == (1, LedColor.GREEN)
    assert pd.commands(osdp.Command.Text)[0]["data"] == "proceed"


async def test_devices_follow_their_pd_offline_and_back(bus: PtyBus, make_pd: Callable[..., LibosdpPd]) -> None:
    first = make_pd(1)
    events: list[DeviceEvent] = []
    hub = hub_for(bus)
    reader = OsdpReader(context("reader", events), hub, 1)
    await reader.start()
    try:
        await until(lambda: hub.cp.is_online(1))
        first.stop()
        await until(lambda: not reader.online)
        make_pd(1)
        await until(lambda: reader.online)
    finally:
        await reader.stop()
    assert [type(e) for e in events] == [DeviceOffline, DeviceOnline]


def test_card_text_is_the_characters_or_hex() -> None:
    assert card_text(b"ABC-123", 56) == "ABC-123"
    assert card_text(b"\xde\xad\xbe\xef", 32) == "deadbeef"
    assert card_text(b"\x41\x80", 9) == "4180"  # not whole bytes: hex
