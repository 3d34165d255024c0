"""Durable store-and-forward outbox for records that must arrive (IOC reports, partner link, IGV dispatch).

Records are committed to SQLite (WAL mode) before :meth:`Outbox.put` returns (:mod:`.store`: group commits
on a thread of their own), delivered in order per lane through a :class:`Transport` with a bounded window
in flight and marked delivered only when the transport confirms them (:mod:`.delivery`). Delivered
records are kept for a retention window so that :meth:`Outbox.replay` can send them again.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Collection, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Literal, Self

from gatecore.types import new_id

from . import store
from .delivery import Delivery, Transport, TransportError
from .store import ROW_OVERHEAD, LaneBacklog, OutboxError, OutboxStatus, OutRecord

__all__ = ["LaneBacklog", "Outbox", "OutboxError", "OutboxStatus", "OutRecord", "ROW_OVERHEAD", "Transport",
           "TransportError"]


class Outbox:
    """A durable, ordered, at-least-once outbox. Use as ``async with Outbox(path) as box: ...``.

    ``window`` records are in flight at once, in transport calls of up to ``batch``; ``poll_s`` is how
    often an idle delivery loop looks for records made pending by another process (a busy one: every
    ``rescan_s``); ``synchronous = "normal"`` survives a crash of the process but not a power loss.

    Records of the ``sequenced`` kinds that must arrive get ``OutRecord.lane_seq``: 1, 2, ... per lane in
    commit order, never reused within :attr:`stream`, so that a peer can tell a resent record from a new
    one and a gap from a record still on its way.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        budget_bytes: int = 256 * 1024 * 1024,
        retention_s: float = 7 * 86400.0,
        window: int = 256,
        batch: int = 64,
        backoff_base_s: float = 0.05,
        backoff_max_s: float = 5.0,
        poll_s: float = 1.0,
        call_timeout_s: float = 30.0,
        rescan_s: float = 5.0,
        synchronous: Literal["full", "normal"] = "full",
        sequenced: Collection[str] = (),
    ) -> None:
        if window < 1 or batch < 1:
            raise ValueError("window and batch must be >= 1")
        self.path = Path(path)
        self.retention_s = retention_s
        self.window = window
        self.batch = min(batch, window)
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.poll_s = poll_s
        self.call_timeout_s = call_timeout_s
        self.rescan_s = rescan_s
        self.read_ahead = max(1024, 4 * window)
        self.delivered = 0
        self.retries = 0
        self._store = store.Store(self.path, synchronous, budget_bytes, sequenced)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._delivery: Delivery | None = None
        self._last_purge = -1e9

    async def open(self) -> None:
        await self._store.start()

    async def close(self) -> None:
        await self._store.stop()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def stream(self) -> str:
        """The id of this file's lane numbering (16 hex digits, made with the file; empty until open)."""
        return self._store.stream

    async def put(
        self, lane: str, kind: str, payload: bytes | Mapping[str, Any], *, id: str | None = None, must: bool = True
    ) -> str:
        """Store one record durably; returns its id once the transaction has committed."""
        return (await self.put_many([(lane, kind, payload, id, must)]))[0]

    async def put_many(
        self, items: Iterable[tuple[str, str, bytes | Mapping[str, Any], str | None, bool]]
    ) -> list[str]:
        """Store several records in one transaction: ``(lane, kind, payload, id or None, must)`` each."""
        now = time.time()
        rows = [(rid or new_id(), lane, kind, int(must), now,
                 payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode())
                for lane, kind, payload, rid, must in items]
        await self._store.insert(rows)
        self._idle.clear()
        if self._delivery is not None:
            self._delivery.more()
        self._wake.set()
        return [r[0] for r in rows]

    async def status(self) -> OutboxStatus:
        return await self._store.submit(partial(store.status, self._store))

    async def pending(self, limit: int = 1000) -> list[OutRecord]:
        """The oldest pending records (for tools and tests)."""
        return await self._store.submit(partial(store.read_pending, after=0, limit=limit))

    async def replay(self, since: float, lane: str | None = None) -> int:
        """Mark records delivered and created at or after ``since`` (epoch s) pending again; returns how many."""
        n = await self._store.submit(partial(store.replay, since=since, lane=lane))
        if self._delivery is not None:
            self._delivery.reread = True
        self._idle.clear()
        self._wake.set()
        return n

    async def purge(self) -> int:
        """Delete delivered records older than the retention window; returns how many."""
        return await self._store.submit(partial(store.purge, self._store, before=time.time() - self.retention_s))

    async def _purge_now_and_then(self) -> None:
        if time.monotonic() - self._last_purge >= 60:
            self._last_purge = time.monotonic()
            await self.purge()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until the delivery loop has nothing left to send (True), or ``timeout`` s (False)."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def deliver(self, transport: Transport) -> None:
        """Deliver pending records through ``transport`` until cancelled."""
        if self._delivery is not None:
            raise OutboxError("a delivery loop is already running on this outbox")
        self._delivery = Delivery(self, transport)
        try:
            await self._delivery.run()
        finally:
            self._delivery = None
