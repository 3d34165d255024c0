"""Cheap waiting primitives for the lane's hot path: a bounded "something changed" signal, and a
deadline that costs nothing when the awaited call does not have to wait."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


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


async def bounded(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    """``await coro`` within ``timeout`` seconds (``TimeoutError`` after it), in the calling task.

    The same as ``async with asyncio.timeout(timeout): await coro``, except that the timer is only
    armed once ``coro`` actually has to wait: a device command that completes at once (a queued write,
    a simulated device) costs no timer. The deadline still counts from the call.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        first = coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    async with asyncio.timeout_at(deadline):
        resumed: T = await _Resumed(coro, first)
    return resumed


class _Resumed:
    """Awaitable that goes on running a coroutine which has already yielded ``first`` to its task.

    Whatever the task sends or throws (a wake-up, a cancellation) is passed on to the coroutine, as
    ``yield from`` would do; its return value is the result.
    """

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro, self._first = coro, first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, yielded = self._coro, self._first
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - every throw (cancellation first) goes on to coro
                try:
                    yielded = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as done:
                    return done.value
