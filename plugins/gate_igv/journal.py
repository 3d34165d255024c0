"""What a restarted fleet control needs to go on where it stopped, beside the trip records: each trip under
way (its lane, transaction, attempt, the vehicles already tried, and once dispatched the vehicle, the order
id, where the route started, the update sent last and how far it released) and each vehicle handed over to
the partner side. One small JSON file per entry in a directory, replaced atomically (written beside it,
fsync'd, renamed) off the event loop, removed when the trip ends or the vehicle is taken back. And, per
vehicle and topic, the header ids reserved (:class:`gate_igv.client.Vda5050Client`), so that they keep rising.

The trip records say what happened; the journal says what is still going on. A trip's end is recorded
before its entry is removed, so a crash in between resumes a trip that is done: the vehicle's ``state``
then shows the order finished, and the completion is recorded again (at least once, never lost).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import structlog

log = structlog.get_logger("gate_igv")
TRIP, AWAY, HEADERS = "trip", "away", "headers"


def default_dir(outbox_path: str) -> str:
    """The journal beside the outbox: ``var/igv-outbox.sqlite`` -> ``var/igv-outbox.sqlite.journal``."""
    return f"{outbox_path}.journal"


class Journal:
    """Entries by kind (:data:`TRIP`, :data:`AWAY`) and key; writes are serialised, so the last one wins."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        self._lock = asyncio.Lock()

    def _path(self, kind: str, key: str) -> Path:
        return self.dir / f"{kind}-{quote(key, safe='')}.json"

    async def save(self, kind: str, key: str, body: dict[str, Any]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        async with self._lock:
            await asyncio.to_thread(self._write, self._path(kind, key), data)

    async def drop(self, kind: str, key: str) -> None:
        async with self._lock:
            await asyncio.to_thread(self._path(kind, key).unlink, missing_ok=True)

    async def load(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every entry of ``kind`` by key; one that cannot be read is logged and left out (never deleted)."""
        return await asyncio.to_thread(self._read, kind)

    def _write(self, path: Path, data: bytes) -> None:  # in a thread: the fsyncs must not hold up the loop
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _read(self, kind: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if not self.dir.is_dir():
            return out
        for path in sorted(self.dir.glob(f"{kind}-*.json")):
            try:
                body = json.loads(path.read_bytes())
            except (OSError, ValueError) as exc:
                log.error("igv_journal_unreadable", file=path.name, error=type(exc).__name__)
                continue
            if isinstance(body, dict):
                out[unquote(path.stem[len(kind) + 1:])] = body
        return out


__all__ = ["AWAY", "HEADERS", "TRIP", "Journal", "default_dir"]
