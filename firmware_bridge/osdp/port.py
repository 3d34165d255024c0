"""The byte link under the control panel: a serial port (RS-485 adapter, pty) opened on asyncio.

:class:`FramePort` owns a :class:`FrameParser`; complete frames queue up for :meth:`FramePort.reply`.
Everything the parser drops is counted in its stats. Port errors become :class:`LinkError`.
"""

from __future__ import annotations

import asyncio
import time

import serial_asyncio_fast

from firmware_bridge.errors import LinkError
from firmware_bridge.osdp.frame import Frame, FrameParser


class FramePort(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = FrameParser(require_crc=True)  # this CP always sends CRC-16 frames
        self.stray_frames = 0  # well-formed frames that answered nothing we asked
        self._frames: asyncio.Queue[Frame] = asyncio.Queue()
        self._transport: asyncio.WriteTransport | None = None
        loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[Exception | None] = loop.create_future()
        self._made: asyncio.Future[None] = loop.create_future()

    @classmethod
    async def open(cls, url: str, baudrate: int) -> FramePort:
        loop = asyncio.get_running_loop()
        try:
            _, port = await serial_asyncio_fast.create_serial_connection(
                loop, cls, url, baudrate=baudrate, bytesize=8, parity="N", stopbits=1
            )
        except (OSError, ValueError) as exc:  # pyserial's SerialException is an OSError
            raise LinkError(f"cannot open serial port {url}: {exc}") from exc
        assert isinstance(port, FramePort)
        async with asyncio.timeout(5.0):  # connection_made runs on the next loop turn
            await port._made
        return port

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self._transport = transport
        if not self._made.done():
            self._made.set_result(None)

    def data_received(self, data: bytes) -> None:
        for frame in self.parser.feed(data):
            self._frames.put_nowait(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self.closed.done():
            self.closed.set_result(exc)

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self.closed.done()

    def send(self, wire: bytes) -> None:
        """Forget anything heard so far (late or stray bytes) and transmit ``wire``."""
        if self._transport is None:
            raise LinkError("serial port is closed")
        self.parser.reset()
        while not self._frames.empty():
            self._frames.get_nowait()
            self.stray_frames += 1
        self._transport.write(wire)

    async def reply(self, address: int, seq: int, timeout: float) -> Frame | None:
        """The next reply frame from ``address`` with sequence ``seq``, or None after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(remaining):
                    frame = await self._frames.get()
            except TimeoutError:
                return None
            if frame.is_reply and frame.address == address and frame.seq == seq:
                return frame
            self.stray_frames += 1
        return None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
