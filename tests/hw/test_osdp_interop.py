"""Our OSDP control panel against libosdp's peripheral device (a C implementation), over a pty bus."""

from __future__ import annotations

from collections.abc import Callable

import osdp  # type: ignore[import-untyped]
import pytest
from hw_helpers import until

from firmware_bridge.errors import CommandRejected, LinkTimeout, PeerOffline
from firmware_bridge.osdp.cp import ControlPanel, CpEvent, PdConfig, PdOffline, PdOnline
from firmware_bridge.osdp.messages import (
    BuzzerCommand,
    Capability,
    CardRead,
    InputStatus,
    KeypadEntry,
    LedColor,
    LedCommand,
    OutputCommand,
    OutputControl,
    TextCommand,
)
from firmware_bridge.testing.osdp_peer import LibosdpPd, PtyBus

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
KEY2 = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")



def cp_for(bus: PtyBus, *pds: PdConfig, **kw: float) -> ControlPanel:
    options = {"reply_timeout": 0.2, "poll_interval": 0.01, "backoff_initial": 0.1, "backoff_max": 0.5} | kw
    return ControlPanel(bus.path, pds, **options)  # type: ignore[arg-type]


async def test_identification_and_capabilities(bus: PtyBus, make_pd: Callable[..., LibosdpPd]) -> None:
    make_pd(9, serial_number=0x01020304)
    events: list[CpEvent] = []
    async with cp_for(bus, PdConfig(9)) as cp:
        cp.add_listener(events.append)
        await cp.wait_online(9, 5)
        pd_id = cp.pd_id(9)
        assert pd_id is not None
        assert (pd_id.vendor_code, pd_id.model, pd_id.version, pd_id.serial_number) == (0x00C0DE, 7, 2, 0x01020304)
        assert pd_id.firmware == (1, 2, 3)
        caps = {c.function: (c.compliance, c.items) for c in cp.capabilities(9)}
        assert caps[Capability.OUTPUT_CONTROL] == (1, 4)
        assert caps[Capability.CONTACT_STATUS] == (1, 4)
        assert caps[Capability.COMMUNICATION_SECURITY][0] & 1
        assert (await cp.identify(9)).serial_number == 0x01020304
        assert not cp.is_secure(9)
    assert isinstance(events[0], PdOnline) and events[0].address == 9


async def test_relay_led_buzzer_and_text_reach_the_pd(bus: PtyBus, make_pd: Callable[..., LibosdpPd]) -> None:
    pd = make_pd(1)
    async with cp_for(bus, PdConfig(1)) as cp:
        await cp.wait_online(1, 5)
        await cp.output(1, OutputCommand(2, OutputControl.ON))
        await cp.output(1, OutputCommand(0, OutputControl.PULSE_ON, timer_100ms=30))
        await cp.led(1, LedCommand(led=1, color=LedColor.RED))
        await cp.buzzer(1, BuzzerCommand(on_time=3, off_time=2, count=2))
        await cp.text(1, TextCommand("GATE 3 OPEN", row=2, column=4))
        assert await cp.local_status(1) == (0, 0)
    assert pd.outputs() == {2: OutputControl.ON, 0: OutputControl.PULSE_ON}
    (pulse,) = [c for c in pd.commands(osdp.Command.Output) if c["output_no"] == 0]
    assert pulse["timer_count"] == 30
    (led,) = pd.commands(osdp.Command.LED)
    assert (led["led_number"], led["on_color"], led["temporary"]) == (1, LedColor.RED, False)
    (buz,) = pd.commands(osdp.Command.Buzzer)
    assert (buz["on_count"], buz["off_count"], buz["rep_count"]) == (3, 2, 2)
    (text,) = pd.commands(osdp.Command.Text)
    assert (text["data"], text["offset_row"], text["offset_col"]) == ("GATE 3 OPEN", 2, 4)


async def test_a_command_the_pd_cannot_do_is_rejected_with_its_nak(
    bus: PtyBus, make_pd: Callable[..., LibosdpPd]
) -> None:
    make_pd(1)
    async with cp_for(bus, PdConfig(1)) as cp:
        await cp.wait_online(1, 5)
        with pytest.raises(CommandRejected) as err:
            await cp.output(1, OutputCommand(7, OutputControl.ON))  # the PD has outputs 0..3
        assert err.value.code == 0x03  # "unknown command" is what libosdp answers for a missing output
        assert cp.is_online(1)


async def test_card_keypad_and_input_events_reach_listeners(bus: PtyBus, make_pd: Callable[..., LibosdpPd]) -> None:
    pd = make_pd(4)
    events: list[CpEvent] = []
    async with cp_for(bus, PdConfig(4)) as cp:
        cp.add_listener(events.append)
        await cp.wait_online(4, 5)
        pd.card(b"\xde\xad\xbe\xef\x01", bits=37)
        pd.keypad(b"1234#")
        pd.inputs([1, 0, 0, 1])
        await until(lambda: sum(not isinstance(e, PdOnline) for e in events) >= 3)
    assert CardRead(4, 0, 0, 37, b"\xde\xad\xbe\xef\x01") in events
    assert KeypadEntry(4, 0, b"1234#") in events
    assert InputStatus(4, (1, 0, 0, 1)) in events


async def test_secure_channel_with_the_pd_key(bus: PtyBus, make_pd: Callable[..., LibosdpPd]) -> None:
    pd = make_pd(2, scbk=KEY, enforce_secure=True)
    events: list[CpEvent] = []
    async with cp_for(bus, PdConfig(2, secure=True, scbk=KEY)) as cp:
        cp.add_listener(events.append)
        await cp.wait_online(2, 5)
        assert cp.is_secure(2) and pd.is_sc_active()
        await cp.output(2, OutputCommand(1, OutputControl.ON))
        await cp.text(2, TextCommand("encrypted"))
        pd.card(b"SECRET-CARD")
        await until(lambda: any(isinstance(e, CardRead) for e in events))
        assert cp.stats.bad_replies == 0
    assert pd.outputs() == {1: OutputControl.ON}
    assert pd.commands(osdp.Command.Text)[0]["data"] == "encrypted"
    assert CardRead(2, 0, 0, 88, b"SECRET-CARD") in events
    assert events[0] == PdOnline(2, events[0].pd_id, True)  # type: ignore[union-attr]


async def test_a_wrong_key_never_gets_a_session(bus: PtyBus, make_pd: Callable[..., LibosdpPd]) -> None:
    pd = make_pd(2, scbk=KEY, enforce_secure=True)
    async with cp_for(bus, PdConfig(2, secure=True, scbk=KEY2)) as cp:
        with pytest.raises(LinkTimeout):
            await cp.wait_online(2, 1.0)
        with pytest.raises(PeerOffline):
            await cp.output(2, OutputCommand(1, OutputControl.ON))
    assert not pd.is_sc_active()
    assert pd.outputs() == {}


async def test_install_mode_provisions_the_key_then_uses_it(bus: PtyBus, make_pd: Callable[..., LibosdpPd]) -> None:
    pd = make_pd(3)  # no key: libosdp starts in install mode and accepts SCBK-D
    async with cp_for(bus, PdConfig(3, secure=True, scbk=KEY, install_mode=True)) as cp:
        await cp.wait_online(3, 5)
        assert cp.is_secure(3)
        await cp.output(3, OutputCommand(0, OutputControl.ON))
    assert pd.state.keys == [KEY]
    assert pd.is_sc_active()
    assert pd.outputs() == {0: OutputControl.ON}


async def test_key_rotation_by_keyset(bus: PtyBus, make_pd: Callable[..., LibosdpPd]) -> None:
    pd = make_pd(3, scbk=KEY)
    async with cp_for(bus, PdConfig(3, secure=True, scbk=KEY)) as cp:
        await cp.wait_online(3, 5)
        await cp.set_key(3, KEY2)
        await cp.output(3, OutputCommand(1, OutputControl.ON))  # reconnects under the new key
        assert cp.is_secure(3)
    assert pd.state.keys == [KEY2]
    assert pd.outputs() == {1: OutputControl.ON}


async def test_several_pds_on_one_bus(bus: PtyBus, make_pd: Callable[..., LibosdpPd]) -> None:
    reader = make_pd(1, scbk=KEY)
    io_board = make_pd(2)
    events: list[CpEvent] = []
    async with cp_for(bus, PdConfig(1, secure=True, scbk=KEY), PdConfig(2)) as cp:
        cp.add_listener(events.append)
        await cp.wait_online(1, 5)
        await cp.wait_online(2, 5)
        reader.card(b"\x01\x02")
        io_board.inputs([0, 1, 0, 0])
        await cp.output(2, OutputCommand(3, OutputControl.ON))
        await until(lambda: len([e for e in events if isinstance(e, (CardRead, InputStatus))]) >= 2)
    assert CardRead(1, 0, 0, 16, b"\x01\x02") in events
    assert InputStatus(2, (0, 1, 0, 0)) in events
    assert io_board.outputs() == {3: OutputControl.ON} and reader.outputs() == {}


async def test_pd_stopped_goes_offline_and_recovers_when_restarted(
    bus: PtyBus, make_pd: Callable[..., LibosdpPd]
) -> None:
    first = make_pd(6, scbk=KEY)
    events: list[CpEvent] = []
    async with cp_for(bus, PdConfig(6, secure=True, scbk=KEY)) as cp:
        cp.add_listener(events.append)
        await cp.wait_online(6, 5)
        first.stop()
        await until(lambda: any(isinstance(e, PdOffline) for e in events))
        assert not cp.is_online(6)
        with pytest.raises(PeerOffline):
            await cp.output(6, OutputCommand(0, OutputControl.ON))
        second = make_pd(6, scbk=KEY)  # the PD reboots: fresh sequence and session state
        await cp.wait_online(6, 5)
        await cp.output(6, OutputCommand(0, OutputControl.ON))
        assert cp.is_secure(6)
    kinds = [type(e) for e in events]
    assert kinds == [PdOnline, PdOffline, PdOnline]
    assert second.outputs() == {0: OutputControl.ON} and first.outputs() == {}


async def test_a_pd_that_never_answers_is_reported_offline(bus: PtyBus) -> None:
    events: list[CpEvent] = []
    async with cp_for(bus, PdConfig(8), reply_timeout=0.05) as cp:
        cp.add_listener(events.append)
        await until(lambda: bool(events))
        assert not cp.is_online(8)
    assert isinstance(events[0], PdOffline) and events[0].address == 8
