"""Per-lane inference off the event loop: a queue of one, the latest frame wins."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, Generic, TypeVar

import structlog

from gatecore.api import error_text

R = TypeVar("R")
log = structlog.get_logger("gate_face")


class LatestFrameWorker(Generic[R]):
    """Feeds frames to a blocking ``process`` in ``executor``, one at a time.

    :meth:`submit` never blocks and returns a ticket: a frame that arrives while another
    waits replaces it (counted in ``dropped``).  :meth:`result` waits, under a timeout, for
    the result of that frame or of a newer one, never an older one: a frame still in the
    executor from an earlier crossing cannot answer for this one.  :meth:`run` is the worker
    task; cancel it to stop.
    """

    def __init__(self, process: Callable[[Any], R], executor: Executor | None = None) -> None:
        self._process = process
        self._executor = executor
        self._pending: tuple[int, Any] | None = None
        self._has_pending = asyncio.Event()
        self._waiters: list[tuple[int, asyncio.Future[R]]] = []
        self._ticket = 0
        self.dropped = 0
        self.processed = 0
        self.failed = 0

    def submit(self, frame: Any) -> int:
        if self._pending is not None:
            self.dropped += 1
        self._ticket += 1
        self._pending = (self._ticket, frame)
        self._has_pending.set()
        return self._ticket

    async def result(self, ticket: int, timeout: float) -> R:
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        entry = (ticket, fut)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._has_pending.wait()
            assert self._pending is not None
            (ticket, frame), self._pending = self._pending, None
            self._has_pending.clear()
            try:
                result = await loop.run_in_executor(self._executor, self._process, frame)
            except Exception as exc:  # noqa: BLE001 - a bad frame must not stop the worker
                self.failed += 1
                log.warning("face_frame_failed", error=error_text(exc), failed=self.failed)
                self._finish(ticket, None, exc)
                continue
            self.processed += 1
            self._finish(ticket, result, None)

    def _finish(self, ticket: int, result: R | None, error: BaseException | None) -> None:
        ready = [(t, f) for t, f in self._waiters if t <= ticket]
        self._waiters = [(t, f) for t, f in self._waiters if t > ticket]
        for _, fut in ready:
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)  # type: ignore[arg-type]
