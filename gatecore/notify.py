"""Waiting on plugin code, safely and cheaply: a bounded "something changed" signal, and a deadline on a
plugin's coroutine that costs nothing when the coroutine does not have to wait (:func:`start`), or that
runs it in a task of its own from its first step (:func:`launch`, for evidence sources), and that a
coroutine which swallows its cancellation cannot hold up."""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Collection, Coroutine, Generator, Iterable
from typing import Any, TypeVar, cast

import structlog

from gatecore.privacy import SafeMessage

T = TypeVar("T")
log = structlog.get_logger("gatecore.notify")


class PluginFailed(SafeMessage):
    """Plugin code ended in a way no plugin may end: a ``CancelledError`` nobody asked for, or a
    ``SystemExit``/``KeyboardInterrupt``. The core treats it like any other exception of the plugin."""


class PluginTimeout(SafeMessage, TimeoutError):
    """A plugin's coroutine gave no answer before its deadline."""


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


def contained(exc: BaseException) -> BaseException:
    """What a plugin raised, as the core handles it: a cancellation we did not ask for and an attempt
    to end the process become :class:`PluginFailed`; a cancellation of the caller goes on."""
    if isinstance(exc, asyncio.CancelledError):
        task = asyncio.current_task()  # asked to cancel: the cancellation is really ours
        return exc if task is not None and task.cancelling() > 0 else PluginFailed("raised CancelledError")
    if isinstance(exc, SystemExit | KeyboardInterrupt | GeneratorExit):
        return PluginFailed(f"raised {type(exc).__name__}")
    return exc


def plugin_error(exc: BaseException) -> BaseException:
    """:func:`contained`, for an ``except BaseException`` around plugin code: a cancellation of the caller
    itself is raised again; anything else is returned as the plugin's failure."""
    error = contained(exc)
    if isinstance(error, asyncio.CancelledError):
        raise error
    return error


_THREAD = getattr(resource, "RUSAGE_THREAD", None)  # Linux: this thread's own CPU time and context switches


class Step:
    """Times one step of plugin code on the event loop (a plain hook call, a step of a coroutine).

    :meth:`blocked` is how long the step held the event loop, or ``None`` when it is within ``budget_s``.
    A step that took long only because the operating system ran something else (on a busy machine the
    thread was switched out involuntarily, and its own CPU time stayed within the budget) is not the
    plugin's doing and is not counted; a step that sleeps or waits in a blocking call is (those are
    voluntary switches), and so is one that computes past the budget."""

    __slots__ = ("_cpu", "_switches", "_t0")

    def __init__(self) -> None:
        self._t0 = time.monotonic()
        self._cpu, self._switches = _usage()

    def blocked(self, budget_s: float) -> float | None:
        took = time.monotonic() - self._t0
        if took <= budget_s:
            return None
        cpu, switches = _usage()
        if switches > self._switches and cpu - self._cpu <= budget_s:
            return None  # preempted, not blocking
        return took


def _usage() -> tuple[float, int]:
    """This thread's CPU time and involuntary context switches, where the platform tells them."""
    if _THREAD is None:
        return 0.0, 0
    usage = resource.getrusage(_THREAD)
    return usage.ru_utime + usage.ru_stime, usage.ru_nivcsw


#: how long a cancelled plugin task may take to end before it is logged as stuck
STUCK_AFTER_S = 1.0
#: tasks abandoned at their deadline that have not ended yet (they swallowed their cancellation)
abandoned: set[asyncio.Task[Any]] = set()


def start(coro: Coroutine[Any, Any, Any], name: str) -> tuple[bool, Any]:
    r"""Run ``coro`` in the calling task until it first has to wait: ``(True, result)`` when it completed
    at once (no task, no timer), else ``(False, task)`` with the rest going on in a task of its own.
    What it raises at once is raised here, as :func:`contained` says. For the core's hook calls, where a
    task for each would double the core's CPU per crossing (bench/core_latency.py); evidence sources,
    which may enter ``asyncio.timeout`` before they first wait, are :func:`launch`\ ed instead."""
    try:
        first = coro.send(None)
    except StopIteration as done:
        return True, done.value
    except BaseException as exc:
        coro.close()
        raise contained(exc) from exc
    return False, asyncio.get_running_loop().create_task(_run(coro, None, first), name=name)


def launch(coro: Coroutine[Any, Any, T], name: str, budget_s: float | None = None) -> asyncio.Task[T]:
    """Run a plugin's coroutine in a task of its own, so that what it binds to the running task
    (``asyncio.timeout``, a ``TaskGroup``, ``current_task()``) is its own and never its caller's.

    With ``budget_s``, a step of the coroutine that keeps the event loop busy longer than that fails it
    (:class:`PluginFailed`). A ``SystemExit`` or ``KeyboardInterrupt`` it raises becomes :class:`PluginFailed`
    instead of reaching the event loop."""
    return asyncio.get_running_loop().create_task(_run(coro, budget_s), name=name)


async def settle(tasks: Collection[asyncio.Task[Any]], timeout: float) -> set[asyncio.Task[Any]]:
    r"""Wait for ``tasks`` at most ``timeout`` seconds; those still running then (or when the caller is
    cancelled) are :func:`abandon`\ ed. Returns those late ones."""
    if not tasks:
        return set()
    try:
        await asyncio.wait(tasks, timeout=timeout)
    finally:
        late = abandon(tasks)
    return late


def abandon(tasks: Iterable[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Cancel the tasks not done yet and leave them behind, so one that swallows its cancellation holds
    up nobody (it is kept in :data:`abandoned`, and logged when it has not ended soon after)."""
    late = {task for task in tasks if not task.done()}
    for task in late:
        task.cancel()
        abandoned.add(task)
        task.add_done_callback(_ended)
        task.get_loop().call_later(STUCK_AFTER_S, _check_stuck, task)
    return late


def outcome(task: asyncio.Task[T], late: Collection[asyncio.Task[Any]], timeout: float) -> T:
    """The result of a task after :func:`settle`: :class:`PluginTimeout` when it was late, :class:`PluginFailed`
    when it cancelled itself, else what it returned or raised."""
    if task in late:
        raise PluginTimeout(f"no answer in {timeout:g}s")
    if task.cancelled():
        raise PluginFailed("raised CancelledError")
    return task.result()


async def bounded(coro: Coroutine[Any, Any, T], timeout: float, name: str = "plugin call") -> T:
    """``await coro`` within ``timeout`` seconds (``TimeoutError`` after it), through :func:`start`,
    :func:`settle` and :func:`outcome`: free when the coroutine does not wait, and never held up by one
    that swallows its cancellation. A ``CancelledError`` the coroutine raises by itself, and a
    ``SystemExit`` or ``KeyboardInterrupt``, become :class:`PluginFailed`."""
    done, value = start(coro, name)
    if done:
        return cast(T, value)
    task: asyncio.Task[T] = value
    late = await settle((task,), timeout)
    return outcome(task, late, timeout)


_NOT_STARTED: Any = object()  # a coroutine's first step may yield None (a bare yield, asyncio.sleep(0))


async def _run(coro: Coroutine[Any, Any, T], budget_s: float | None, first: Any = _NOT_STARTED) -> T:
    try:
        result: T = await (coro if budget_s is None and first is _NOT_STARTED else _Timed(coro, budget_s, first))
    except (SystemExit, KeyboardInterrupt) as exc:  # must not reach the event loop
        raise PluginFailed(f"raised {type(exc).__name__}") from exc
    return result


def _check_stuck(task: asyncio.Task[Any]) -> None:
    if not task.done():
        log.error("plugin_stuck", task=task.get_name(), why="ignored its cancellation", abandoned=len(abandoned))


def _ended(task: asyncio.Task[Any]) -> None:
    abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: it was abandoned, its outcome is of no use


class _Timed:
    """Awaitable that drives a coroutine as ``yield from`` would (every wake-up and every throw, the
    cancellation first, goes on to it), resuming one whose first step already ran when given ``first``;
    with ``budget_s``, it fails the coroutine when one of its steps runs past the budget."""

    __slots__ = ("_budget", "_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], budget_s: float | None, first: Any) -> None:
        """``first``: what the coroutine yielded in a first step already run (:func:`start`)."""
        self._coro, self._budget, self._first = coro, budget_s, first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, step = self._coro, self._coro.send
        arg: Any = None
        yielded, started = self._first, self._first is not _NOT_STARTED
        while True:
            if started:
                started = False
            else:
                timer = Step() if self._budget is not None else None
                try:
                    yielded = step(arg)
                except StopIteration as done:
                    self._check(timer)
                    return done.value
                self._check(timer)
            try:
                arg, step = (yield yielded), coro.send
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - every throw (cancellation first) goes on to coro
                arg, step = exc, coro.throw

    def _check(self, timer: Step | None) -> None:
        if timer is not None and self._budget is not None and (took := timer.blocked(self._budget)) is not None:
            self._coro.close()
            raise PluginFailed(f"blocked the event loop for {took * 1000:.0f} ms")
