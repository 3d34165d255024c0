"""Delivering the outbox to the partner: each record signed as it is sent, done when its receipt arrives.

:class:`Courier` is the outbox's :class:`gatecore.api.Transport`. The outbox holds unsigned messages; each
transmission signs the message again with a fresh ``sent`` (the partner's time window judges the
transmission, the message id stays the same), hands it to a :class:`Wire` (MQTT, or the in-process bus of
the demo) and waits for the partner's signed receipt naming it. A record whose receipt has not come within
``receipt_timeout_s`` goes back to the outbox, which sends it again after its lane's backoff; a lost
connection sends back everything under way.

Receipts do not go through the outbox: a receipt is sent once, straight after the message it receipts was
stored (:meth:`Courier.answer`). Lost, it costs nothing - the partner sends the message again and gets a
receipt for the duplicate - and it never waits behind messages that wait for receipts themselves (two
outboxes full of messages, each waiting for receipts queued in the other, would hold each other up).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from gatecore.api import OutRecord, TransportError

from .canonical import encode, signed
from .messages import time_text
from .suites import PrivateKey


class Wire(Protocol):
    """Where signed messages go out and come in. :meth:`dispatch` hands ``payloads`` over at once, in order
    (or raises :class:`TransportError`), and returns what to await until the peer - the broker - has them
    all (raising :class:`TransportError` if it will not); :meth:`run` keeps the connection and puts what
    arrives into ``inbox`` until cancelled."""

    connected: asyncio.Event

    def dispatch(self, payloads: Sequence[bytes]) -> Awaitable[None]: ...

    async def run(self, inbox: asyncio.Queue[bytes]) -> None: ...


class Courier:
    """The outbox transport of one side: signs with ``key`` on ``clock``, waits for receipts."""

    def __init__(self, wire: Wire, key: PrivateKey, receipt_timeout_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.wire, self.key = wire, key
        self.receipt_timeout_s = receipt_timeout_s
        self.clock = clock
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._signer = ThreadPoolExecutor(1, thread_name_prefix="gate-link-sign")
        self._turn = asyncio.Lock()  # calls hand their messages over one after the other, in the outbox's order
        self.sent = 0
        self.resent_after_timeout = 0
        self.receipts_dropped = 0

    def close(self) -> None:
        self._signer.shutdown(wait=False)

    def receipted(self, mid: str) -> None:
        """A receipt of ``mid`` arrived (verified by the receiver)."""
        fut = self._waiting.get(mid)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _sign(self, drafts: Sequence[Mapping[str, Any]]) -> list[bytes]:
        sent = time_text(self.clock())
        return [encode(signed({**d, "sent": sent}, self.key, validated=True)) for d in drafts]

    async def answer(self, receipts: Sequence[Mapping[str, Any]]) -> bool:
        """Sign and send ``receipts`` (drafts) now; False if the link cannot take them (they are dropped)."""
        try:
            async with self._turn:
                payloads = await asyncio.get_running_loop().run_in_executor(self._signer, self._sign, receipts)
                handed = self.wire.dispatch(payloads)
            await handed
        except TransportError:
            self.receipts_dropped += len(receipts)
            return False
        return True

    async def publish(self, records: Sequence[OutRecord]) -> Collection[str]:
        if not self.wire.connected.is_set():
            raise TransportError("the link is down")
        loop = asyncio.get_running_loop()
        waits = {r.id: self._waiting.setdefault(r.id, loop.create_future()) for r in records}
        try:
            async with self._turn:  # the partner applies a subject's updates in the order they arrive
                drafts = [json.loads(r.payload) for r in records]
                payloads = await loop.run_in_executor(self._signer, self._sign, drafts)
                handed = self.wire.dispatch(payloads)
            await handed
            self.sent += len(payloads)
            if waits:
                await asyncio.wait(waits.values(), timeout=self.receipt_timeout_s)
        finally:
            for mid in waits:
                self._waiting.pop(mid, None)
        confirmed = [r.id for r in records if waits[r.id].done()]
        self.resent_after_timeout += len(records) - len(confirmed)
        return confirmed


@dataclass
class LocalBus:
    """Two sides in one process (the demo, with the partner simulator): what one sends, the other's inbox
    gets. ``down`` cuts the link both ways."""

    inboxes: dict[str, asyncio.Queue[bytes]] = field(default_factory=dict)
    connected: dict[str, asyncio.Event] = field(default_factory=dict)
    down: bool = False

    def wire(self, me: str, partner: str) -> LocalWire:
        return LocalWire(self, me, partner)


class LocalWire:
    def __init__(self, bus: LocalBus, me: str, partner: str) -> None:
        self.bus, self.me, self.partner = bus, me, partner
        self.connected = bus.connected.setdefault(me, asyncio.Event())

    def dispatch(self, payloads: Sequence[bytes]) -> Awaitable[None]:
        inbox = self.bus.inboxes.get(self.partner)
        if self.bus.down or inbox is None or not self.connected.is_set():
            raise TransportError("the local link is down")
        for payload in payloads:
            inbox.put_nowait(payload)
        return asyncio.sleep(0)

    async def run(self, inbox: asyncio.Queue[bytes]) -> None:
        self.bus.inboxes[self.me] = inbox
        self.connected.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.connected.clear()
            self.bus.inboxes.pop(self.me, None)
