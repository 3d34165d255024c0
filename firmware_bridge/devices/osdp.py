"""Device models on an OSDP bus: a barrier relay, inputs (loops, limit switches), a reader, LEDs, text."""

from __future__ import annotations

import string
from collections.abc import Awaitable

from firmware_bridge.devices.hubs import OsdpHub
from firmware_bridge.errors import LinkError
from firmware_bridge.osdp.cp import CpEvent, PdOffline, PdOnline
from firmware_bridge.osdp.messages import (
    CardRead,
    FormattedCard,
    InputStatus,
    KeypadEntry,
    LedColor,
    LedCommand,
    OutputCommand,
    OutputControl,
    TextCommand,
)
from gatecore.api import (
    Aspect,
    Barrier,
    BarrierPosition,
    Device,
    DeviceContext,
    DeviceError,
    Display,
    Lights,
    Presence,
    Reader,
)

_PRINTABLE = set(string.printable.encode()) - set(b"\t\n\r\x0b\x0c")
_LED_COLORS = {Aspect.RED: LedColor.RED, Aspect.GREEN: LedColor.GREEN, Aspect.AMBER: LedColor.AMBER,
               Aspect.OFF: LedColor.BLACK}


class _OnBus(Device):
    """What every OSDP device does: follow its PD's link state, hold the bus while started."""


    def __init__(self, hub: OsdpHub, address: int) -> None:
        self.hub = hub
        self.address = address
        hub.subscribe(address, self._event)

    def _event(self, event: CpEvent) -> None:
        if isinstance(event, PdOnline):
            self.set_online(True)
        elif isinstance(event, PdOffline):
            self.set_online(False, f"OSDP PD {event.address}: {event.reason}")
        else:
            self.on_pd_event(event)

    def on_pd_event(self, event: CpEvent) -> None:
        """A card read, keypad entry or status report from this device's PD."""

    async def start(self) -> None:
        await self.hub.acquire()

    async def stop(self) -> None:
        await self.hub.release()

    async def _do(self, command: Awaitable[None], what: str) -> None:
        try:
            await command
        except LinkError as exc:
            raise DeviceError(f"{what} on OSDP PD {self.address}: {exc}") from exc


def _input_state(event: CpEvent, index: int | None) -> bool | None:
    if index is None or not isinstance(event, InputStatus) or index >= len(event.states):
        return None
    return bool(event.states[index])


class OsdpBarrier(_OnBus, Barrier):
    """A barrier driven by one relay output; position from limit-switch inputs, or from the relay's ACK."""

    def __init__(self, ctx: DeviceContext, hub: OsdpHub, address: int, output: int,
                 open_input: int | None = None, closed_input: int | None = None) -> None:
        Barrier.__init__(self, ctx)
        _OnBus.__init__(self, hub, address)
        self.output = output
        self.open_input = open_input
        self.closed_input = closed_input

    async def open(self) -> None:
        await self._move(OutputControl.ON, BarrierPosition.OPEN)

    async def close(self) -> None:
        await self._move(OutputControl.OFF, BarrierPosition.CLOSED)

    async def _move(self, control: OutputControl, target: BarrierPosition) -> None:
        await self._do(self.hub.cp.output(self.address, OutputCommand(self.output, control)), "barrier relay")
        if self.open_input is None and self.closed_input is None:
            self.report_position(target)  # no limit switches: the relay's ACK is the confirmation
        elif self.position is not target:
            self.report_position(BarrierPosition.MOVING)

    def on_pd_event(self, event: CpEvent) -> None:
        is_open, is_closed = _input_state(event, self.open_input), _input_state(event, self.closed_input)
        if is_open:
            self.report_position(BarrierPosition.OPEN)
        elif is_closed:
            self.report_position(BarrierPosition.CLOSED)
        elif is_open is not None or is_closed is not None:
            self.report_position(BarrierPosition.MOVING)


class OsdpPresence(_OnBus, Presence):
    """A loop detector or presence sensor wired to an input of a PD."""

    def __init__(self, ctx: DeviceContext, hub: OsdpHub, address: int, input_no: int, active_high: bool = True):
        Presence.__init__(self, ctx)
        _OnBus.__init__(self, hub, address)
        self.input_no = input_no
        self.active_high = active_high

    def on_pd_event(self, event: CpEvent) -> None:
        state = _input_state(event, self.input_no)
        if state is not None:
            self.report_presence(state == self.active_high)


def card_text(data: bytes, bits: int) -> str:
    """A card or QR payload as text: the characters when it is printable ASCII, else hex digits."""
    if bits % 8 == 0 and data and all(b in _PRINTABLE for b in data):
        return data.decode("ascii")
    return data.hex()


class OsdpReader(_OnBus, Reader):
    """A card / QR / keypad reader: osdp_RAW, osdp_FMT and osdp_KEYPAD become ``Scanned`` events."""

    def __init__(self, ctx: DeviceContext, hub: OsdpHub, address: int, reader_no: int = 0) -> None:
        Reader.__init__(self, ctx)
        _OnBus.__init__(self, hub, address)
        self.reader_no = reader_no

    def on_pd_event(self, event: CpEvent) -> None:
        if isinstance(event, CardRead) and event.reader == self.reader_no:
            self.report_scan(card_text(event.data, event.bits), event.data)
        elif isinstance(event, FormattedCard) and event.reader == self.reader_no:
            self.report_scan(event.text, event.text.encode())
        elif isinstance(event, KeypadEntry) and event.reader == self.reader_no:
            self.report_scan(event.keys.decode("ascii", "replace"), event.keys)


class OsdpLights(_OnBus, Lights):
    """Lane lights as a reader LED: red, green, amber or off."""

    def __init__(self, ctx: DeviceContext, hub: OsdpHub, address: int, reader_no: int = 0, led: int = 0):
        Lights.__init__(self, ctx)
        _OnBus.__init__(self, hub, address)
        self.reader_no = reader_no
        self.led = led

    async def show(self, aspect: Aspect) -> None:
        cmd = LedCommand(self.reader_no, self.led, color=_LED_COLORS[aspect])
        await self._do(self.hub.cp.led(self.address, cmd), "LED")


class OsdpDisplay(_OnBus, Display):
    """A reader's text display (osdp_TEXT, permanent, no wrap)."""

    def __init__(self, ctx: DeviceContext, hub: OsdpHub, address: int, reader_no: int = 0) -> None:
        Display.__init__(self, ctx)
        _OnBus.__init__(self, hub, address)
        self.reader_no = reader_no

    async def show_text(self, text: str) -> None:
        await self._do(self.hub.cp.text(self.address, TextCommand(text, reader=self.reader_no)), "text")
