"""Per-lane inference off the event loop: a queue of one, the latest frame wins."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, Generic, TypeVar

import structlog

R = TypeVar("R")
log = structlog.get_logger("gate_face")


class LatestFrameWorker(Generic[R]):
    """Feeds frames to a blocking ``process`` in ``executor``, one at a time.

    :meth:`submit` never blocks: a frame that arrives while another waits replaces it
    (counted in ``dropped``).  :meth:`next_result` waits, under a timeout, for the result of
    the next frame to finish.  :meth:`run` is the worker task; cancel it to stop.
    """

    def __init__(self, process: Callable[[Any], R], executor: Executor | None = None) -> None:
        self._process = process
        self._executor = executor
        self._pending: Any = None
        self._has_pending = asyncio.Event()
        self._waiters: list[asyncio.Future[R]] = []
        self.dropped = 0
        self.processed = 0
        self.failed = 0

    def submit(self, frame: Any) -> None:
        if self._pending is not None:
            self.dropped += 1
        self._pending = frame
        self._has_pending.set()

    async def next_result(self, timeout: float) -> R:
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._has_pending.wait()
            frame, self._pending = self._pending, None
            self._has_pending.clear()
            try:
                result = await loop.run_in_executor(self._executor, self._process, frame)
            except Exception as exc:  # noqa: BLE001 - a bad frame must not stop the worker
                self.failed += 1
                log.warning("face_frame_failed", error=type(exc).__name__, failed=self.failed)
                self._finish(None, exc)
                continue
            self.processed += 1
            self._finish(result, None)

    def _finish(self, result: R | None, error: BaseException | None) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)  # type: ignore[arg-type]
