"""The plugin manager: built-ins and entry points, found the same way; awaiting async hooks."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy
import structlog

from gatecore import PROJECT, __version__, hookspecs

log = structlog.get_logger("gatecore.plugins")

#: Plugins that ship inside the core. They are ordinary plugins.
BUILTIN_PLUGINS: tuple[str, ...] = ("gatecore.builtins.evidence_votes",)
#: Built-ins that cannot be disabled: without them a lane cannot decide.
ESSENTIAL_PLUGINS: frozenset[str] = frozenset({"evidence_votes"})
ENTRY_POINT_GROUP = PROJECT


class PluginError(Exception):
    """A plugin could not be loaded, or a profile asks for an impossible plugin set."""


@dataclass(frozen=True, slots=True)
class PluginInfo:
    name: str
    version: str
    origin: str
    hooks: tuple[str, ...]


def _short(module_name: str) -> str:
    return module_name.rsplit(".", 1)[-1]


def make_manager(disable: Iterable[str] = (), *, entry_points_enabled: bool = True) -> pluggy.PluginManager:
    """A manager with the hookspecs, the built-ins and every installed ``gatecore`` entry point,
    except the plugins named in ``disable``. Raises :class:`PluginError` for an essential plugin or
    a plugin that fails to import (with the plugin's name)."""
    disabled = set(disable)
    refused = disabled & ESSENTIAL_PLUGINS
    if refused:
        raise PluginError(f"plugin {sorted(refused)[0]!r} is essential and cannot be disabled")
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    versions: dict[str, tuple[str, str]] = {}
    for module_name in BUILTIN_PLUGINS:
        name = _short(module_name)
        if name not in disabled:
            pm.register(importlib.import_module(module_name), name=name)
            versions[name] = (__version__, "builtin")
    if entry_points_enabled:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in disabled or pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
            except ImportError as exc:
                # A missing optional backend is logged and skipped, not fatal (its kinds become unknown).
                log.warning("plugin_unavailable", plugin=ep.name, error=str(exc))
                continue
            pm.register(plugin, name=ep.name)
            dist = ep.dist
            versions[ep.name] = (dist.version if dist else "?", dist.name if dist else ep.value)
    pm.check_pending()
    pm.gatecore_versions = versions  # type: ignore[attr-defined]
    return pm


def available() -> set[str]:
    """Names of every plugin that could be loaded: the built-ins and the installed entry points."""
    return {_short(m) for m in BUILTIN_PLUGINS} | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}


def register(pm: pluggy.PluginManager, plugin: ModuleType | object, name: str) -> None:
    """Register a plugin object by hand (tests, embedding) and check its hook names."""
    pm.register(plugin, name=name)
    pm.check_pending()
    pm.gatecore_versions[name] = ("-", "registered")  # type: ignore[attr-defined]


def describe(pm: pluggy.PluginManager) -> list[PluginInfo]:
    versions: dict[str, tuple[str, str]] = getattr(pm, "gatecore_versions", {})
    out = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))
        version, origin = versions.get(name, ("?", "?"))
        out.append(PluginInfo(name, version, origin, hooks))
    return out


@dataclass(frozen=True, slots=True)
class HookFailure:
    plugin: str
    hook: str
    error: BaseException


Pending = list[tuple[str, Awaitable[Any]]]


def call_now(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> tuple[list[Any], Pending, list[HookFailure]]:
    """Call every implementation of ``hook_name`` now; return the plain results, the awaitables still
    to await (named by plugin) and the implementations that raised."""
    results: list[Any] = []
    pending: Pending = []
    failures: list[HookFailure] = []
    for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
        try:
            result = impl.function(*[kwargs[arg] for arg in impl.argnames])
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the lane
            failures.append(HookFailure(impl.plugin_name, hook_name, exc))
            continue
        if inspect.isawaitable(result):
            pending.append((impl.plugin_name, result))
        elif result is not None:
            results.append(result)
    return results, pending, failures


async def await_pending(hook_name: str, pending: Pending, timeout: float) -> tuple[list[Any], list[HookFailure]]:
    """Await what :func:`call_now` left, concurrently, under ``timeout``; a late one is cancelled."""
    results: list[Any] = []
    failures: list[HookFailure] = []
    if not pending:
        return results, failures
    tasks = [asyncio.ensure_future(aw) for _, aw in pending]
    _, late = await asyncio.wait(tasks, timeout=timeout)
    for task in late:
        task.cancel()
    for (plugin, _), task in zip(pending, tasks, strict=True):
        if task in late:
            failures.append(HookFailure(plugin, hook_name, TimeoutError(f"no answer in {timeout:g}s")))
        elif (error := task.exception()) is not None:
            failures.append(HookFailure(plugin, hook_name, error))
        elif task.result() is not None:
            results.append(task.result())
    return results, failures


def log_failures(failures: list[HookFailure]) -> None:
    for failure in failures:
        log.error("hook_failed", plugin=failure.plugin, hook=failure.hook,
                  error=f"{type(failure.error).__name__}: {failure.error}")


async def call_all(
    pm: pluggy.PluginManager, hook_name: str, timeout: float, **kwargs: Any
) -> tuple[list[Any], list[HookFailure]]:
    """Call every implementation of ``hook_name``; await the async ones concurrently under ``timeout``.

    Returns the non-``None`` results and the failures (exception or timeout), each named by plugin and
    logged. One plugin's failure never stops the others.
    """
    results, pending, failures = call_now(pm, hook_name, **kwargs)
    more, late = await await_pending(hook_name, pending, timeout)
    failures += late
    log_failures(failures)
    return results + more, failures
