"""One side of the link: what it sends goes through the core's durable outbox, what arrives through the
receiver (and is receipted at once, :meth:`gate_link.transport.Courier.answer`); the controller is one
endpoint, the partner simulator another.

Files, in ``state_dir``: ``outbox.sqlite`` (messages waiting for their receipts: the core's
:class:`gatecore.api.Outbox`, one outbox lane per ordered subject so that a subject's updates leave in
order while the others flow) and ``state.sqlite`` (what was received: :mod:`.store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog

from gatecore.api import Outbox, error_text

from . import store
from .canonical import encode
from .messages import KINDS, MODELS, Receipt, draft, kind_of, subject
from .receiver import Outcome, Receiver
from .store import LinkStore
from .suites import PrivateKey
from .transport import Courier, Wire
from .trust import TrustList

log = structlog.get_logger("gate_link")

TAKE_BATCH = 256  # messages checked and applied in one transaction at most
PRUNE_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Settings:
    window_s: float = 300.0
    receipt_timeout_s: float = 10.0
    retention_s: float = 14 * 86400.0
    outbox_window: int = 64
    outbox_batch: int = 16
    synchronous: Literal["full", "normal"] = "full"
    budget_bytes: int = 256 * 1024 * 1024
    backoff_max_s: float = 5.0


class Endpoint:
    """``me``'s side of its link with ``partner``: sign with ``key``, trust ``trust``, talk over ``wire``.
    Use ``open``, then ``serve`` until cancelled, then ``close``; ``listeners`` see every batch taken."""

    def __init__(self, me: str, partner: str, key: PrivateKey, trust: TrustList, wire: Wire, state_dir: str | Path,
                 settings: Settings = Settings(), clock: Callable[[], float] = time.time) -> None:
        self.me, self.partner = me, partner
        self.settings = settings
        self.clock = clock
        self.dir = Path(state_dir)
        self.outbox = Outbox(self.dir / "outbox.sqlite", window=settings.outbox_window, batch=settings.outbox_batch,
                             call_timeout_s=settings.receipt_timeout_s + 30.0, backoff_max_s=settings.backoff_max_s,
                             synchronous=settings.synchronous, budget_bytes=settings.budget_bytes,
                             retention_s=settings.retention_s)
        self.db = LinkStore(self.dir / "state.sqlite", settings.synchronous)
        self.receiver = Receiver(me, partner, trust, self.db, settings.window_s, clock)
        self.wire = wire
        self.courier = Courier(wire, key, settings.receipt_timeout_s, clock)
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.listeners: list[Callable[[Sequence[Outcome]], None]] = []

    async def open(self) -> None:
        await self.outbox.open()
        await self.db.open()

    async def close(self) -> None:
        self.courier.close()
        await self.outbox.close()
        await self.db.close()

    async def send(self, kind: str, **fields: Any) -> str:
        """Commit a message of ``kind`` to the outbox (it is sent, signed, until its receipt arrives)."""
        message = draft(kind, self.me, self.partner, self.clock(), **fields)
        lane = subject(MODELS[kind].model_validate(message)) or kind
        return await self.outbox.put(lane, kind, encode(message), id=message["id"])

    async def serve(self) -> None:
        """Deliver, keep the wire, take what arrives and forget what is past keeping, until cancelled."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.outbox.deliver(self.courier), name="link/deliver")
            tg.create_task(self.wire.run(self.inbox), name="link/wire")
            tg.create_task(self._take(), name="link/take")
            tg.create_task(self._prune(), name="link/prune")

    async def drained(self, timeout: float) -> bool:
        """Whether everything in the outbox was receipted within ``timeout`` s."""
        return await self.outbox.wait_idle(timeout) and (await self.outbox.status()).pending == 0

    async def _take(self) -> None:
        while True:
            batch = [await self.inbox.get()]
            while len(batch) < TAKE_BATCH and not self.inbox.empty():
                batch.append(self.inbox.get_nowait())
            try:
                outcomes = await self.receiver.take(batch)
            except (store.StoreError, OSError, ValueError) as exc:  # not receipted: the partner sends again
                log.error("link_take_failed", error=error_text(exc), count=len(batch))
                continue
            await self._after(outcomes)

    async def _after(self, outcomes: Sequence[Outcome]) -> None:
        receipts = []
        for o in outcomes:
            if isinstance(o.message, Receipt) and o.status == "receipt":
                self.courier.receipted(o.message.of)
            elif o.receipt and o.message is not None:
                receipts.append(draft("receipt", self.me, self.partner, self.clock(), of=o.message.id,
                                      of_kind=kind_of(o.message), status=o.status))
        if receipts:
            await self.courier.answer(receipts)
        for listener in self.listeners:
            listener(outcomes)

    async def _prune(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY_S)
            with contextlib.suppress(store.StoreError):
                await self.db.run(lambda conn: store.prune(conn, self.clock(), self.settings.retention_s))

    def counts(self) -> dict[str, int]:
        return dict(self.receiver.counts)


__all__ = ["KINDS", "Endpoint", "Settings"]
