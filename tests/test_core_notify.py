"""The lane's waiting primitives: ``bounded`` behaves like ``asyncio.timeout`` around an await, costs no task
when the call completes at once, and is never held up by a call that swallows its cancellation; ``launch``
(for evidence sources) runs a call in a task of its own from its first step."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gatecore.notify import Notifier, PluginFailed, abandoned, bounded, launch
from gatecore.testing import wait_for


class Armed:
    """Counts the tasks ``bounded`` starts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        loop = asyncio.get_running_loop()
        real = loop.create_task

        def counting(coro: Any, **kwargs: Any) -> Any:
            self.count += 1
            return real(coro, **kwargs)

        monkeypatch.setattr(loop, "create_task", counting)


async def test_a_launched_call_runs_in_a_task_of_its_own_so_its_own_timeout_never_cancels_the_caller() -> None:
    caller = asyncio.current_task()

    async def own_timeout() -> str:
        assert asyncio.current_task() is not caller
        try:
            async with asyncio.timeout(0.02):  # entered before the first wait
                await asyncio.Event().wait()
        except TimeoutError:
            return "timed out inside"
        return "not reached"

    assert await launch(own_timeout(), "source") == "timed out inside"
    await asyncio.sleep(0.05)  # the caller is not cancelled later either
    assert caller is not None and caller.cancelling() == 0


async def test_a_call_that_completes_at_once_starts_no_task(monkeypatch: pytest.MonkeyPatch) -> None:
    armed = Armed(monkeypatch)

    async def at_once() -> int:
        return 7

    assert await bounded(at_once(), 1.0) == 7
    assert armed.count == 0


async def test_a_call_that_waits_goes_on_in_one_task_under_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    armed = Armed(monkeypatch)
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def waits() -> str:
        await asyncio.sleep(0)  # a bare yield first, then a future
        return await gate

    task = asyncio.ensure_future(bounded(waits(), 5.0))
    await asyncio.sleep(0.01)
    gate.set_result("done")
    assert await task == "done"
    assert armed.count == 2  # the caller's task (ensure_future above) and the call's own


async def test_a_call_that_hangs_times_out_and_is_cancelled_inside() -> None:
    seen: list[str] = []

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            seen.append("cleaned up")

    with pytest.raises(TimeoutError):
        await bounded(hangs(), 0.05)
    await wait_for(lambda: seen == ["cleaned up"], 1.0)


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
    await wait_for(lambda: seen == ["cancelled"], 1.0)


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


async def test_a_call_that_swallows_its_cancellation_is_left_behind_at_the_deadline() -> None:
    release = asyncio.Event()

    async def swallows() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass

    async with asyncio.timeout(5):  # a hang guard: without abandonment this never returns
        with pytest.raises(TimeoutError):
            await bounded(swallows(), 0.05, "plugin.swallows")
    stuck = [t for t in abandoned if t.get_name() == "plugin.swallows"]
    assert len(stuck) == 1 and not stuck[0].done()
    release.set()
    stuck[0].cancel()
    await wait_for(lambda: stuck[0].done() and stuck[0] not in abandoned)


@pytest.mark.parametrize("exc", [asyncio.CancelledError, SystemExit, KeyboardInterrupt])
@pytest.mark.parametrize("later", [False, True])
async def test_a_call_ending_as_no_plugin_may_is_a_plugin_failure(exc: type[BaseException], later: bool) -> None:
    """A CancelledError nobody asked for, SystemExit and KeyboardInterrupt: neither the caller's cancellation
    nor the end of the process, but PluginFailed."""

    async def ends_badly() -> None:
        if later:
            await asyncio.sleep(0.001)
        raise exc

    with pytest.raises(PluginFailed, match=exc.__name__):
        await bounded(ends_badly(), 1.0)


async def test_notifier_wakes_the_waiter_or_times_out() -> None:
    notifier = Notifier()
    loop = asyncio.get_running_loop()
    loop.call_later(0.01, notifier.notify)
    await asyncio.wait_for(notifier.wait(5.0), 1.0)  # woken by the notice, not by its own timeout
    await notifier.wait(0.01)  # nobody notifies: ends by itself


class Usage:
    """Stands in for this thread's (CPU seconds, involuntary switches): the values each call returns."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *values: tuple[float, int]) -> None:
        self.values = list(values)
        monkeypatch.setattr("gatecore.notify._usage", lambda: self.values.pop(0) if len(self.values) > 1
                            else self.values[0])


async def sleeps_in_the_loop() -> str:
    time.sleep(0.06)  # noqa: ASYNC251 - the plugin bug under test: the event loop waits on it
    return "done"


async def test_a_step_that_blocks_the_loop_in_a_blocking_call_fails_the_coroutine() -> None:
    task = launch(sleeps_in_the_loop(), "blocks", budget_s=0.02)
    with pytest.raises(PluginFailed, match="blocked the event loop"):
        await task


async def test_a_step_the_system_preempted_is_not_the_plugins_block(monkeypatch: pytest.MonkeyPatch) -> None:
    Usage(monkeypatch, (1.0, 5), (1.001, 6))  # switched out once, 1 ms of its own CPU
    assert await launch(sleeps_in_the_loop(), "preempted", budget_s=0.02) == "done"


async def test_a_step_that_computes_past_the_budget_fails_even_when_preempted_too(
        monkeypatch: pytest.MonkeyPatch) -> None:
    Usage(monkeypatch, (1.0, 5), (1.05, 6))  # switched out, and 50 ms of its own CPU
    with pytest.raises(PluginFailed, match="blocked the event loop"):
        await launch(sleeps_in_the_loop(), "computes", budget_s=0.02)
