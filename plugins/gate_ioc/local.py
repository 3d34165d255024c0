"""A transport with no broker: each record becomes one JSON line ``{"topic": ..., "record": {...}}``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Collection, Sequence
from pathlib import Path

from gatecore.api import OutRecord, TransportError

from .payloads import numbered, topic_segment


class JsonlTransport:
    """Appends records to a file (the demo's IOC); a record is confirmed once the line is flushed. Calls
    append one at a time, in the order they were made (the outbox runs several at once)."""

    def __init__(self, path: str | os.PathLike[str], site_topic: str, stream: str = "") -> None:
        self.path = Path(path)
        self.site_topic = site_topic
        self.stream = stream
        self._turn = asyncio.Lock()  # FIFO: appends keep the order of the calls

    async def publish(self, records: Sequence[OutRecord]) -> Collection[str]:
        lines = b"".join(
            b'{"topic":"%s/%s/%s","record":%s}\n'
            % (self.site_topic.encode(), topic_segment(r.lane).encode(), r.kind.encode(),
               r.payload if r.lane_seq is None else numbered(r.payload, self.stream, r.lane_seq))
            for r in records
        )
        try:
            async with self._turn:
                await asyncio.to_thread(self._append, lines)
        except OSError as exc:
            raise TransportError(f"cannot append to {self.path}: {exc.strerror}") from exc
        return [r.id for r in records]

    def _append(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            f.write(data)
            f.flush()
