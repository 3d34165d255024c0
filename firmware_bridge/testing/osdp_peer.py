"""A real OSDP peripheral for tests and the demo: libosdp's PD on a pseudo-terminal "RS-485 bus".

:class:`PtyBus` opens a pty pair; the control panel opens the slave end (``bus.path``) as its serial
port. Each :class:`LibosdpPd` (libosdp's C implementation, PyPI ``libosdp``) is a drop on the bus:
it hears every byte the CP sends and its replies go back to the CP, as on a multi-drop RS-485 line.
``corrupt`` flips one random bit in that fraction of the bytes, in both directions.

libosdp runs its PD in its own thread; nothing here touches the asyncio loop.
"""

from __future__ import annotations

import os
import random
import select
import threading
import time
import tty
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import osdp  # type: ignore[import-untyped]

from firmware_bridge.osdp.frame import FrameParser


class PtyBus:
    def __init__(self, corrupt: float = 0.0, seed: int = 0) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)
        self.corrupt = corrupt
        self.corrupted_bytes = 0
        self._rng = random.Random(seed)
        self.commands_heard: Counter[int] = Counter()  # command codes the CP sent, as the line saw them
        self._sniffer = FrameParser(require_crc=True)
        self._drops: list[BusChannel] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="pty-bus", daemon=True)
        self._thread.start()

    def attach(self) -> BusChannel:
        channel = BusChannel(self)
        with self._lock:
            self._drops.append(channel)
        return channel

    def detach(self, channel: BusChannel) -> None:
        with self._lock:
            if channel in self._drops:
                self._drops.remove(channel)

    def mangle(self, data: bytes) -> bytes:
        if not self.corrupt:
            return data
        out = bytearray(data)
        with self._lock:
            for i in range(len(out)):
                if self._rng.random() < self.corrupt:
                    out[i] ^= 1 << self._rng.randrange(8)
                    self.corrupted_bytes += 1
        return bytes(out)

    def write(self, data: bytes) -> int:
        """A drop transmits toward the CP."""
        try:
            return os.write(self.master, self.mangle(data))
        except BlockingIOError:
            return 0

    def _pump(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                continue
            data = self.mangle(data)
            for frame in self._sniffer.feed(data):
                if not frame.is_reply:
                    self.commands_heard[frame.code] += 1
            with self._lock:
                drops = list(self._drops)
            for drop in drops:
                drop.hear(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self.master)
        os.close(self._slave)


class BusChannel(osdp.Channel):  # type: ignore[misc]
    """libosdp's channel interface (read/write/flush, called from the PD thread) on a bus drop."""

    def __init__(self, bus: PtyBus) -> None:
        self.id = 0
        self._bus = bus
        self._rx = bytearray()
        self._lock = threading.Lock()

    def hear(self, data: bytes) -> None:
        with self._lock:
            self._rx += data

    def read(self, max_bytes: int) -> bytes:
        with self._lock:
            data = bytes(self._rx[:max_bytes])
            del self._rx[:max_bytes]
        return data

    def write(self, buf: bytes) -> int:
        return self._bus.write(bytes(buf))

    def flush(self) -> None:
        pass


@dataclass
class PdState:
    """What the PD was told, as its command callback saw it (written from the PD thread)."""

    outputs: dict[int, int] = field(default_factory=dict)  # output number -> last control code
    commands: list[dict[str, Any]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)  # time.monotonic() of each command
    keys: list[bytes] = field(default_factory=list)


DEFAULT_CAPS = (
    (osdp.Capability.ContactStatusMonitoring, 1, 4),
    (osdp.Capability.OutputControl, 1, 4),
    (osdp.Capability.LEDControl, 1, 2),
    (osdp.Capability.AudibleControl, 1, 1),
    (osdp.Capability.TextOutput, 1, 1),
    (osdp.Capability.CardDataFormat, 1, 1),
)


class LibosdpPd:
    """libosdp's peripheral device at ``address`` on ``bus``. ``scbk=None`` starts it in install mode."""

    def __init__(
        self,
        bus: PtyBus,
        address: int,
        scbk: bytes | None = None,
        *,
        enforce_secure: bool = False,
        caps: Sequence[tuple[int, int, int]] = DEFAULT_CAPS,
        serial_number: int = 0xA1B2C3D4,
        log_level: int = osdp.LogLevel.Error,
    ) -> None:
        self.bus = bus
        self.address = address
        self.scbk = scbk
        self.state = PdState()
        self._lock = threading.Lock()
        self._channel = bus.attach()
        flags = [osdp.LibFlag.EnforceSecure] if enforce_secure else []
        info = osdp.PDInfo(address, self._channel, scbk=scbk, flags=flags,
                           id=osdp.PdId(2, 7, 0x00C0DE, serial_number, 0x010203))
        self._pd = osdp.PeripheralDevice(info, osdp.PDCapabilities(list(caps)), log_level=log_level,
                                         command_handler=self._on_command)
        self._pd.start()

    def _on_command(self, cmd: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            self.state.commands.append(dict(cmd))
            self.state.received_at.append(time.monotonic())
            if cmd["command"] == osdp.Command.Output:
                self.state.outputs[cmd["output_no"]] = cmd["control_code"]
            elif cmd["command"] == osdp.Command.Keyset:
                self.state.keys.append(bytes(cmd["data"]))
        return 0, None

    def commands(self, kind: int) -> list[dict[str, Any]]:
        with self._lock:
            return [c for c in self.state.commands if c["command"] == kind]

    def outputs(self) -> dict[int, int]:
        with self._lock:
            return dict(self.state.outputs)

    def card(self, data: bytes, bits: int | None = None, reader: int = 0) -> None:
        """Present a card (or a QR payload): reported to the CP as osdp_RAW on its next poll."""
        self._pd.submit_event({"event": osdp.Event.CardRead, "reader_no": reader, "direction": 0,
                               "format": osdp.CardFormat.Unspecified, "data": data,
                               "length": bits if bits is not None else 8 * len(data)})

    def keypad(self, keys: bytes, reader: int = 0) -> None:
        self._pd.submit_event({"event": osdp.Event.KeyPress, "reader_no": reader, "data": keys})

    def inputs(self, states: Sequence[int]) -> None:
        """Report the input (loop, position switch) states: osdp_ISTATR on the next poll."""
        self._pd.submit_event({"event": osdp.Event.Status, "type": osdp.StatusReportType.Input,
                               "report": bytes(states)})

    def is_sc_active(self) -> bool:
        return bool(self._pd.is_sc_active())

    def stop(self) -> None:
        """Power the PD off: its thread stops and it leaves the bus. Stopping twice is harmless."""
        if self._pd.thread is not None:
            self._pd.stop()
        self.bus.detach(self._channel)
