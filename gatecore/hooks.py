"""Calling plugins: every hook goes through pluggy's own hook callers, one plugin at a time, so wrappers,
tracing and monitoring see every call (the rules, for plugin authors: :mod:`gatecore.hookspecs`). A plain
result is used at once, an ``async def`` one awaited under a deadline (:mod:`gatecore.notify`); every way a
plugin breaks the contract (raising, being late, blocking the loop) is a :class:`HookFailure` naming it."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any

import pluggy
import structlog

from gatecore.notify import Step, outcome, plugin_error, settle, start
from gatecore.privacy import SafeMessage, SafeText, error_text

log = structlog.get_logger("gatecore.hooks")


@dataclass(frozen=True, slots=True)
class HookFailure:
    plugin: str
    hook: str
    error: BaseException

    def describe(self) -> SafeText:
        """Which plugin's hook failed and how, fit to leave the controller (no exception message of a plugin)."""
        return SafeText(f"{self.plugin}.{self.hook}: {error_text(self.error)}")


class PluginBlocked(SafeMessage):
    """A plain (not async) hook implementation kept the event loop busy past the budget."""


Results = list[tuple[str, Any]]
"""Non-``None`` results, each with the name of the plugin that gave it."""


class Hooks:
    """The core's one way to call plugins. ``budget_s``: how long a plain implementation may run."""

    def __init__(self, pm: pluggy.PluginManager, budget_s: float) -> None:
        self.pm = pm
        self.budget_s = budget_s
        self._callers: dict[str, tuple[tuple[Any, ...], list[tuple[str, Any]]]] = {}

    def callers(self, name: str) -> list[tuple[str, Any]]:
        """``(plugin, caller)`` for each plugin implementing ``name``, in pluggy's call order (cached
        until the plugins registered for the hook change)."""
        hook = getattr(self.pm.hook, name)
        impls = tuple(hook.get_hookimpls())
        cached = self._callers.get(name)
        if cached is not None and cached[0] == impls:
            return cached[1]
        plain = [impl for impl in impls if not (impl.wrapper or impl.hookwrapper)]
        callers = [(impl.plugin_name, self.pm.subset_hook_caller(
            name, [other.plugin for other in plain if other.plugin is not impl.plugin])) for impl in reversed(plain)]
        self._callers[name] = (impls, callers)
        return callers

    def call_now(self, name: str, first: bool = False, building: bool = False, **kwargs: Any
                 ) -> tuple[Results, list[tuple[str, Awaitable[Any]]], list[HookFailure]]:
        """Call every plugin's ``name`` now: the plain results, the awaitables still to await, the
        failures. With ``first``, stop at the first non-``None`` answer (``firstresult`` hooks). While
        the site is being ``building`` (setup, factories) no lane runs yet: a call may take its time."""
        results: Results = []
        pending: list[tuple[str, Awaitable[Any]]] = []
        failures: list[HookFailure] = []
        for plugin, caller in self.callers(name):
            timer = Step()
            try:
                out = caller(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - a plugin's failure of any kind is contained
                failures.append(HookFailure(plugin, name, plugin_error(exc)))
                continue
            value = out if first else (out[0] if out else None)
            if not building and (took := timer.blocked(self.budget_s)) is not None:
                close(value)
                failures.append(HookFailure(plugin, name, PluginBlocked(
                    f"blocked the event loop for {took * 1000:.0f} ms (budget {self.budget_s * 1000:g} ms)")))
                continue
            if inspect.isawaitable(value):
                pending.append((plugin, value))
            elif value is not None:
                results.append((plugin, value))
                if first:
                    break
        return results, pending, failures

    async def settle(self, name: str, pending: list[tuple[str, Awaitable[Any]]], timeout: float
                     ) -> tuple[Results, list[HookFailure]]:
        """Await what :meth:`call_now` left, concurrently, under ``timeout``."""
        results: Results = []
        failures: list[HookFailure] = []
        tasks: list[tuple[str, asyncio.Task[Any]]] = []
        for plugin, awaitable in pending:
            try:
                done, value = start(_coroutine(awaitable), f"{plugin}.{name}")
            except Exception as exc:  # noqa: BLE001 - contained
                failures.append(HookFailure(plugin, name, exc))
                continue
            if not done:
                tasks.append((plugin, value))
            elif value is not None:
                results.append((plugin, value))
        late = await settle([task for _, task in tasks], timeout)
        for plugin, task in tasks:
            try:
                value = outcome(task, late, timeout)
            except Exception as exc:  # noqa: BLE001 - contained
                failures.append(HookFailure(plugin, name, exc))
                continue
            if value is not None:
                results.append((plugin, value))
        return results, failures

    async def call(self, name: str, timeout: float, **kwargs: Any) -> tuple[Results, list[HookFailure]]:
        """Call every plugin's ``name`` and await the async ones; failures are logged and returned."""
        results, pending, failures = self.call_now(name, **kwargs)
        if pending:
            more, late = await self.settle(name, pending, timeout)
            results += more
            failures += late
        log_failures(failures)
        return results, failures


def close(value: object) -> None:
    """Close a coroutine that will not be awaited (no "never awaited" warning)."""
    if inspect.iscoroutine(value):
        value.close()


def _coroutine(awaitable: Awaitable[Any]) -> Coroutine[Any, Any, Any]:
    """A coroutine for :func:`gatecore.notify.launch`: itself, or one awaiting a future."""
    return awaitable if inspect.iscoroutine(awaitable) else _awaiting(awaitable)


async def _awaiting(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def log_failures(failures: list[HookFailure]) -> None:
    for failure in failures:
        log.error("hook_failed", plugin=failure.plugin, hook=failure.hook, error=error_text(failure.error))
