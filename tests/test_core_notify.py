"""The lane's waiting primitives: ``bounded`` behaves like ``asyncio.timeout`` around an await."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gatecore.notify import Notifier, bounded


class Armed:
    """Counts the deadline timers ``bounded`` arms."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = asyncio.timeout_at

        def counting(when: float | None) -> Any:
            self.count += 1
            return real(when)

        monkeypatch.setattr(asyncio, "timeout_at", counting)


async def test_a_call_that_completes_at_once_arms_no_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    armed = Armed(monkeypatch)

    async def at_once() -> int:
        return 7

    assert await bounded(at_once(), 1.0) == 7
    assert armed.count == 0


async def test_a_call_that_waits_is_awaited_under_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    armed = Armed(monkeypatch)
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def waits() -> str:
        await asyncio.sleep(0)  # a bare yield first, then a future
        return await gate

    task = asyncio.ensure_future(bounded(waits(), 5.0))
    await asyncio.sleep(0.01)
    gate.set_result("done")
    assert await task == "done"
    assert armed.count == 1


async def test_a_call_that_hangs_times_out_and_is_cancelled_inside() -> None:
    seen: list[str] = []

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            seen.append("cleaned up")

    with pytest.raises(TimeoutError):
        await bounded(hangs(), 0.05)
    assert seen == ["cleaned up"]


async def test_cancelling_the_caller_cancels_the_call_and_is_not_a_timeout() -> None:
    seen: list[str] = []

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    task = asyncio.ensure_future(bounded(hangs(), 5.0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]


async def test_errors_pass_through_before_and_after_the_first_wait() -> None:
    async def fails_at_once() -> None:
        raise ValueError("at once")

    async def fails_later() -> None:
        await asyncio.sleep(0.001)
        raise KeyError("later")

    with pytest.raises(ValueError, match="at once"):
        await bounded(fails_at_once(), 1.0)
    with pytest.raises(KeyError, match="later"):
        await bounded(fails_later(), 1.0)


async def test_a_call_that_handles_an_error_thrown_into_it_goes_on() -> None:
    """Whatever the task throws in is passed on; a coroutine that handles it keeps running."""

    async def stubborn() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0.001)  # it cleans up, waiting once more, then gives in
            raise
        return "unreachable"

    with pytest.raises(TimeoutError):
        await bounded(stubborn(), 0.02)


async def test_notifier_wakes_the_waiter_or_times_out() -> None:
    notifier = Notifier()
    loop = asyncio.get_running_loop()
    loop.call_later(0.01, notifier.notify)
    await asyncio.wait_for(notifier.wait(5.0), 1.0)  # woken by the notice, not by its own timeout
    await notifier.wait(0.01)  # nobody notifies: ends by itself
