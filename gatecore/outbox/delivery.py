"""Delivering an outbox: pending records in commit order through a :class:`Transport`, a window in flight.

A record is delivered when the transport confirms it. A lane whose records were not confirmed backs off
(capped exponential, full jitter) while the other lanes flow; a failed transport stops sending, waits for
every call under way to end, backs off, then sends again from the oldest pending record - so a lane's
records go out in order, also after a failure.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Collection, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import structlog

from gatecore.privacy import error_text

from . import store
from .store import OutRecord

if TYPE_CHECKING:
    from . import Outbox

log = structlog.get_logger("gatecore.outbox")

#: How long the calls under way may go on when the delivery loop is cancelled, before they are cancelled.
STOP_GRACE_S = 1.0


class TransportError(Exception):
    """The transport cannot deliver right now (not connected, connection lost); the outbox backs off.

    ``confirmed`` names records of the failed call that the peer did confirm before the failure.
    """

    def __init__(self, message: str, *, confirmed: Collection[str] = ()) -> None:
        super().__init__(message)
        self.confirmed = tuple(confirmed)


@runtime_checkable
class Transport(Protocol):
    """Where an outbox delivers to (MQTT for the IOC, HTTP for a partner, ...).

    ``publish`` sends ``records`` in the given order and returns the ids the peer confirmed; records not
    returned are retried later (with backoff for their lane). Raising :class:`TransportError` means
    nothing more can be sent now: the outbox backs off and later resends every unconfirmed record, oldest
    first. The outbox may run several ``publish`` calls at once (``window // batch`` of them); a transport
    whose peer does not keep the order of concurrent calls must be used with ``window == batch``.
    """

    async def publish(self, records: Sequence[OutRecord]) -> Collection[str]: ...


class Delivery:
    """One running delivery loop (:meth:`Outbox.deliver`).

    ``queue`` holds the pending records read, in commit order, up to ``cursor``; ``complete`` says that
    no pending record came after it (``put`` says when there are more). Going back to the oldest pending
    record (``reread``) empties the queue; records still in flight are not read again.
    """

    def __init__(self, box: Outbox, transport: Transport) -> None:
        self.box, self.transport = box, transport
        self.queue: deque[OutRecord] = deque()
        self.cursor = 0
        self.complete = False
        self.added = False  # put() committed records while a read was under way
        self.reread = True
        self.inflight: dict[int, OutRecord] = {}  # seq -> record, in a publish call
        self.calls: dict[asyncio.Task[Collection[str]], Sequence[OutRecord]] = {}
        self.blocked: dict[str, float] = {}  # lane -> monotonic time it may be tried again
        self.lane_failures: dict[str, int] = {}  # failures in a row, for the backoff
        self.link_failures = 0
        self.failed = False  # the transport failed: wait for every call to end, then back off
        self.down_until = 0.0
        self.read_at = 0.0
        self.marking: set[asyncio.Future[None]] = set()  # commits of confirmed records under way

    async def run(self) -> None:
        box = self.box
        try:
            while True:
                await box._purge_now_and_then()
                now = time.monotonic()
                self._unblock(now)
                if self.reread:
                    self.queue.clear()
                    self.cursor, self.complete, self.reread, self.read_at = 0, False, False, now
                sending = not self.failed and now >= self.down_until
                if sending and not self.complete and len(self.queue) < box.window:
                    await self._read()
                if sending:
                    self._dispatch()
                if self.complete and not (self.queue or self.inflight or self.blocked):
                    box._idle.set()
                timed_out = await self._wait(now)
                self._collect()
                # pick up what another process made pending again (gatecore outbox --replay)
                if self.complete and not self.queue and (timed_out or now - self.read_at >= box.rescan_s):
                    self.reread = True
        finally:
            await self._finish()

    async def _finish(self) -> None:
        """On the way out: let the calls under way end (``STOP_GRACE_S``), cancel the rest, and commit what
        was confirmed, so a record the peer has is not sent again after a clean stop."""
        if self.calls:
            await asyncio.wait(self.calls, timeout=STOP_GRACE_S)
        for task in self.calls:
            task.cancel()
        if self.calls:
            await asyncio.wait(self.calls, timeout=5)
        self._collect()
        if self.marking:
            await asyncio.wait(self.marking, timeout=5)

    def more(self) -> None:
        """``put`` has committed records: read on."""
        self.complete, self.added = False, True

    async def _read(self) -> None:
        self.added = False
        limit = self.box.read_ahead
        try:
            rows = await self.box._store.submit(partial(store.read_pending, after=self.cursor, limit=limit))
        except store.OutboxError as exc:
            log.error("outbox_read_failed", error=error_text(exc))
            self.link_failures += 1
            self.down_until = time.monotonic() + self._backoff(self.link_failures)
            return
        self.complete = len(rows) < limit and not self.added
        if rows:
            self.cursor = rows[-1].seq
            self.queue.extend(r for r in rows if r.seq not in self.inflight)

    def _dispatch(self) -> None:
        if any(task.done() for task in self.calls):  # a call that failed stops the sending before more goes out
            self._collect()
            if self.failed or self.reread or time.monotonic() < self.down_until:
                return
        window, batch = self.box.window, self.box.batch
        while self.queue and len(self.inflight) < window:
            chunk: list[OutRecord] = []
            limit = min(batch, window - len(self.inflight))
            while self.queue and len(chunk) < limit:
                r = self.queue.popleft()
                if r.lane not in self.blocked:  # read again when its backoff ends
                    chunk.append(r)
                    self.inflight[r.seq] = r
            if chunk:
                call = asyncio.wait_for(self.transport.publish(chunk), self.box.call_timeout_s)
                self.calls[asyncio.create_task(call, name="outbox-publish")] = chunk

    async def _wait(self, now: float) -> bool:
        """Wait for a call to end, new records or the next timer; True when nothing happened."""
        box = self.box
        box._wake.clear()
        can_send = bool(self.queue) and len(self.inflight) < box.window
        can_read = not self.complete and len(self.queue) < box.window
        if (can_send or can_read) and not self.failed and now >= self.down_until:
            await asyncio.sleep(0)  # more to do at once, but let the calls under way progress
            return False
        timeout = box.poll_s
        if self.down_until > now:
            timeout = min(timeout, self.down_until - now)
        if self.blocked:
            timeout = min(timeout, max(0.0, min(self.blocked.values()) - now))
        wake = asyncio.ensure_future(box._wake.wait())
        done, _ = await asyncio.wait({*self.calls, wake}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        wake.cancel()
        return not done

    def _collect(self) -> None:
        delivered: list[int] = []
        for task in [t for t in self.calls if t.done()]:
            chunk = self.calls.pop(task)
            for r in chunk:
                del self.inflight[r.seq]
            confirmed: Collection[str] = ()
            if task.cancelled():
                self.failed = True
            elif (exc := task.exception()) is not None:
                if isinstance(exc, TransportError):
                    confirmed = exc.confirmed
                elif not isinstance(exc, TimeoutError):
                    log.error("outbox_transport_failed", error=error_text(exc))
                self.failed = True
            else:
                confirmed = task.result()
            ok = set(confirmed)
            delivered.extend(r.seq for r in chunk if r.id in ok)
            if not self.failed:
                self._backoff_lanes(chunk, ok)
        if delivered:
            self.box.delivered += len(delivered)
            self.link_failures = 0
            done = self.box._store.submit(partial(store.mark_delivered, when=time.time(), seqs=delivered))
            self.marking.add(done)
            done.add_done_callback(self.marking.discard)
            done.add_done_callback(_log_failure)
        if self.failed and not self.calls:
            self.failed, self.reread, self.complete = False, True, False  # not idle: all is to be read again
            self.link_failures += 1
            self.down_until = time.monotonic() + self._backoff(self.link_failures)
            self.box.retries += 1

    def _backoff_lanes(self, chunk: Sequence[OutRecord], ok: set[str]) -> None:
        for lane in {r.lane for r in chunk if r.id not in ok}:
            failures = self.lane_failures[lane] = self.lane_failures.get(lane, 0) + 1
            self.blocked[lane] = time.monotonic() + self._backoff(failures)
            self.box.retries += 1
        for lane in {r.lane for r in chunk if r.id in ok} - self.blocked.keys():
            self.lane_failures.pop(lane, None)

    def _backoff(self, failures: int) -> float:
        """Capped exponential backoff with full jitter after ``failures`` failures in a row."""
        base, cap = self.box.backoff_base_s, self.box.backoff_max_s
        return random.uniform(0.5, 1.0) * min(cap, base * 2.0 ** min(failures - 1, 30))

    def _unblock(self, now: float) -> None:
        for lane in [lane for lane, until in self.blocked.items() if until <= now]:
            del self.blocked[lane]
            self.reread = True


def _log_failure(fut: asyncio.Future[Any]) -> None:
    exc = None if fut.cancelled() else fut.exception()
    if exc is not None:
        log.error("outbox_mark_delivered_failed", error=error_text(exc))
