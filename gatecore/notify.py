"""A cheap "something changed" signal for one waiter at a time, with a bounded wait."""

from __future__ import annotations

import asyncio


class Notifier:
    """``notify()`` wakes the coroutine in :meth:`wait`; a wait ends at the latest after ``timeout``.

    Made for state machines that re-check their condition after every wake-up: a notification while
    nobody waits is not kept (the waiter checks the state before it waits).
    """

    __slots__ = ("_wake",)

    def __init__(self) -> None:
        self._wake: asyncio.Future[None] | None = None

    def notify(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def wait(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wake = loop.create_future()
        timer = loop.call_later(timeout, _wake_up, wake)  # a bare timer: cheaper than wait_for
        try:
            await wake
        finally:
            timer.cancel()


def _wake_up(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
