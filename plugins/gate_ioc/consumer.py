"""``gatecore ioc consume PROFILE [--out FILE]``: a small reference IOC consumer of one site's records.

It subscribes to ``{prefix}/{site}/+/+`` with a persistent session (QoS 1), writes each record as a JSON
line ``{"topic": ..., "record": {...}}`` (appended to ``--out`` and fsync'd, or to stdout) and, once the
lines are written, acknowledges each lane it took records of (``gatecore.ioc.ack/1``, retained, on
``{prefix}/{site}/{lane}/ack``). A numbered record is stored only when it is the next of its lane
(``seq`` one more than the last stored, same ``stream``): a record sent again is stored once, and one
after a gap is left for the controller to send again, with the gap. Records without a number
(heartbeats) are stored as they come. A lane it holds nothing of, or a new stream, starts at the first
record that arrives; with ``--out`` it resumes from what the file holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

import structlog

from gatecore.api import error_text

from . import payloads
from .link import Link, LinkError, MqttSettings

log = structlog.get_logger("gate_ioc.consumer")

FLUSH_EVERY = 256  # records written (and acknowledged) at least this often while messages keep coming


class Consumer:
    def __init__(self, settings: MqttSettings, out: Path | None) -> None:
        self.settings = settings
        self.site_topic = payloads.site_topic(settings.prefix, settings.site)
        self.positions: dict[str, tuple[str, int]] = read_positions(out) if out is not None else {}
        self.file: IO[bytes] = out.open("ab") if out is not None else sys.stdout.buffer
        self.lines: list[bytes] = []
        self.dirty: set[str] = set(self.positions)  # lanes to acknowledge at the next flush
        self.stored = self.duplicates = self.gaps = self.bad = 0

    async def run(self) -> None:
        """Consume until cancelled; reconnect with capped backoff."""
        delay = self.settings.reconnect_min_s
        while True:
            link = Link(self.settings, clean=False)
            try:
                await link.connect()
                await link.subscribe((f"{self.site_topic}/+/+",))
                delay = self.settings.reconnect_min_s
                self.dirty.update(self.positions)  # say where we are: the controller may be waiting for it
                await self._serve(link)
            except LinkError as exc:
                log.warning("ioc_consumer_link_down", error=error_text(exc), retry_in_s=round(delay, 2))
            finally:
                link.drop()
            await asyncio.sleep(delay)
            delay = min(self.settings.reconnect_max_s, delay * 2)

    async def _serve(self, link: Link) -> None:
        """Take what arrives until the link is lost; write and acknowledge whenever the queue runs dry."""
        await self._flush(link)
        while (message := await self._next_message(link)) is not None:
            self.take(*message)
            if link.messages.empty() or len(self.lines) >= FLUSH_EVERY:
                await self._flush(link)

    @staticmethod
    async def _next_message(link: Link) -> tuple[str, bytes] | None:
        if not link.messages.empty():
            return link.messages.get_nowait()
        got, lost = asyncio.ensure_future(link.messages.get()), asyncio.ensure_future(link.lost.wait())
        await asyncio.wait({got, lost}, return_when=asyncio.FIRST_COMPLETED)
        lost.cancel()
        if got.done():
            return got.result()
        got.cancel()
        return None

    def take(self, topic: str, payload: bytes) -> None:
        """One message: its records that are next in their lanes are kept for the next flush."""
        if not topic.startswith(self.site_topic + "/") or topic.endswith("/ack"):
            return
        try:
            message = json.loads(payload)
            records = message["records"] if message.get("schema") == payloads.schema("batch") else [message]
            for record in records:
                if self._next(record):
                    self.lines.append(json.dumps({"topic": topic, "record": record}, separators=(",", ":"),
                                                 ensure_ascii=False).encode() + b"\n")
        except (ValueError, KeyError, TypeError, AttributeError):
            self.bad += 1
            log.warning("ioc_consumer_bad_message", topic=topic)

    def _next(self, record: dict[str, Any]) -> bool:
        lane, stream, seq = str(record["lane"]), record.get("stream"), record.get("seq")
        if seq is None:
            return True
        self.dirty.add(lane)
        last = self.positions.get(lane)
        if last is None or last[0] != stream or seq == last[1] + 1:
            self.positions[lane] = (str(stream), int(seq))
            self.stored += 1
            return True
        if seq <= last[1]:
            self.duplicates += 1
        else:
            self.gaps += 1
        return False

    async def _flush(self, link: Link) -> None:
        """Write what was taken, then acknowledge: an acknowledged record is on disk."""
        lines, self.lines = self.lines, []
        if lines:  # shielded: a stop while the lines wait for the thread must not drop them
            await asyncio.shield(asyncio.to_thread(self._write, b"".join(lines)))
        now = time.time()
        for lane in self.dirty:
            stream, seq = self.positions[lane]
            ack = payloads.ack(self.settings.site, lane, stream, seq, now)
            link.client.publish(payloads.ack_topic(self.site_topic, lane), payloads.encode(ack), qos=1, retain=True)
        self.dirty.clear()

    def _write(self, data: bytes) -> None:
        self.file.write(data)
        self.file.flush()
        with contextlib.suppress(OSError):  # stdout may be a pipe
            os.fsync(self.file.fileno())


def read_positions(path: Path) -> dict[str, tuple[str, int]]:
    """The last (stream, seq) per lane in a file this consumer wrote; a line cut short by a crash goes."""
    if not path.exists():
        return {}
    data = path.read_bytes()
    whole = data.rfind(b"\n") + 1
    if whole < len(data):
        with path.open("r+b") as f:
            f.truncate(whole)
    positions: dict[str, tuple[str, int]] = {}
    for line in data[:whole].splitlines():
        record = json.loads(line)["record"]
        if "seq" in record:
            positions[record["lane"]] = (record["stream"], record["seq"])
    return positions
