"""Trip records: every step of a trip (requested, dispatched, attempt failed, completed, handed over,
failed, taken over) is committed to the core's durable outbox, then delivered in order per lane - to the
fleet broker (QoS 1, ``{topic_prefix}/{site}/{lane}/igv-trip``) or appended to a JSON-lines file.
``schemas/trip-1.json`` is the record's schema; the tests validate every record against it."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from gatecore.api import Outbox, OutRecord, TransportError, new_id

from .bus import Bus, BusDown

SCHEMA = "gatecore.igv.trip/1"
KIND = "igv.trip"
#: The lane id of records that belong to no lane (a vehicle taken over at the hand-over point).
YARD_LANE = "igv"


def record(site: str, lane: str, trip: str, status: str, **fields: Any) -> dict[str, Any]:
    """A trip record; ``fields``: txn, attempt, vehicle, version, order, reason, stops, handover, seconds."""
    base: dict[str, Any] = {"schema": SCHEMA, "id": new_id(), "site": site, "lane": lane, "trip": trip,
                            "status": status, "t_wall": time.time(), "txn": None, "attempt": 0, "vehicle": None,
                            "version": None, "order": None, "reason": None, "stops": [], "handover": None,
                            "seconds": None}
    unknown = set(fields) - set(base)
    if unknown:
        raise TypeError(f"not a trip record field: {sorted(unknown)}")
    return {**base, **fields}


def topic_segment(value: str) -> str:
    return value.replace("/", ".")


class BusTransport:
    """Outbox records to the fleet broker, QoS 1, one at a time in order; confirmed on PUBACK."""

    def __init__(self, bus: Bus, prefix: str, site: str) -> None:
        self.bus, self.prefix, self.site = bus, prefix, topic_segment(site)

    async def publish(self, records: Sequence[OutRecord]) -> Collection[str]:
        done: list[str] = []
        for r in records:
            try:
                await self.bus.publish(f"{self.prefix}/{self.site}/{topic_segment(r.lane)}/igv-trip", r.payload, 1)
            except BusDown as exc:
                raise TransportError(str(exc), confirmed=done) from None
            done.append(r.id)
        return done


class FileTransport:
    """Outbox records appended to a JSON-lines file, fsync'd before they count as delivered."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    async def publish(self, records: Sequence[OutRecord]) -> Collection[str]:
        await asyncio.to_thread(self._append, b"".join(r.payload + b"\n" for r in records))
        return [r.id for r in records]

    def _append(self, lines: bytes) -> None:  # in a thread: an fsync must not hold up the event loop
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records a :class:`FileTransport` wrote (a line cut short is skipped)."""
    out = []
    try:
        with Path(path).open("rb") as f:
            for line in f:
                if line.endswith(b"\n"):
                    out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out


def make_outbox(path: str) -> Outbox:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return Outbox(path, window=16, batch=16, poll_s=0.5)
