"""The plugin manager: built-ins and entry points, found the same way (calling hooks: :mod:`gatecore.hooks`)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType

import pluggy
import structlog

from gatecore import PROJECT, __version__, hookspecs
from gatecore.privacy import error_text

log = structlog.get_logger("gatecore.plugins")

#: Plugins that ship inside the core. They are ordinary plugins.
BUILTIN_PLUGINS: tuple[str, ...] = ("gatecore.builtins.evidence_votes",)
#: Built-ins that cannot be disabled: without them a lane cannot decide.
ESSENTIAL_PLUGINS: frozenset[str] = frozenset({"evidence_votes"})
ENTRY_POINT_GROUP = PROJECT


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, which also knows where each plugin came from (its version and distribution)."""

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.origins: dict[str, tuple[str, str]] = {}


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


def make_manager(disable: Iterable[str] = (), *, entry_points_enabled: bool = True) -> PluginManager:
    """A manager with the hookspecs, the built-ins and every installed ``gatecore`` entry point,
    except the plugins named in ``disable``. Raises :class:`PluginError` for an essential plugin or
    a plugin that fails to import (with the plugin's name)."""
    disabled = set(disable)
    refused = disabled & ESSENTIAL_PLUGINS
    if refused:
        raise PluginError(f"plugin {sorted(refused)[0]!r} is essential and cannot be disabled")
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    versions = pm.origins
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
                log.warning("plugin_unavailable", plugin=ep.name, module=exc.name, error=error_text(exc))
                continue
            pm.register(plugin, name=ep.name)
            dist = ep.dist
            versions[ep.name] = (dist.version if dist else "?", dist.name if dist else ep.value)
    pm.check_pending()
    return pm


def available() -> set[str]:
    """Names of every plugin that could be loaded: the built-ins and the installed entry points."""
    return {_short(m) for m in BUILTIN_PLUGINS} | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}


def register(pm: pluggy.PluginManager, plugin: ModuleType | object, name: str) -> None:
    """Register a plugin object by hand (tests, embedding) and check its hook names."""
    try:
        hash(plugin)
    except TypeError:
        raise PluginError(f"plugin {name!r} is not hashable (pluggy keeps sets of plugins): a dataclass "
                          "plugin needs @dataclass(eq=False)") from None
    pm.register(plugin, name=name)
    pm.check_pending()
    if isinstance(pm, PluginManager):
        pm.origins[name] = ("-", "registered")


def describe(pm: pluggy.PluginManager) -> list[PluginInfo]:
    versions = pm.origins if isinstance(pm, PluginManager) else {}
    out = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))
        version, origin = versions.get(name, ("?", "?"))
        out.append(PluginInfo(name, version, origin, hooks))
    return out
