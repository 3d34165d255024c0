"""A TCP relay between a simulated vehicle and its broker that can cut the link, as a lost Wi-Fi connection
does: the broker sees the connection end without an MQTT DISCONNECT and publishes the vehicle's last will;
while cut, connections are refused. The vehicle's MQTT client only sees its connection drop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time


class Relay:
    """Listens on 127.0.0.1 (``port``, a free one) and relays to ``host:port`` once :meth:`start` ed."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._cut_until = 0.0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, sock=self._sock)

    async def close(self) -> None:
        self.cut(0.0)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    def cut(self, away_s: float) -> None:
        """End every relayed connection now; refuse new ones for ``away_s``."""
        self._cut_until = time.monotonic() + away_s
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if time.monotonic() < self._cut_until:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.target), 5.0)
        except (OSError, TimeoutError):
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        pumps = [asyncio.create_task(_pump(reader, up_writer)), asyncio.create_task(_pump(up_reader, writer))]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
            for w in (writer, up_writer):
                self._links.discard(w)
                w.transport.abort()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
