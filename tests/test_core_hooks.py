"""The core calls every hook through pluggy's own hook callers, one plugin at a time: wrappers run around
each plugin's implementation, tracing and hook-call monitoring see every call, and one plugin's failure
(an exception, a timeout, a blocked loop) costs no other plugin its call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from gatecore.api import Decision, Outcome, SiteView, hookimpl
from gatecore.hooks import Hooks, PluginBlocked
from gatecore.plugins import PluginError, make_manager, register
from gatecore.testing import make_site, running, wait_for

from . import scripted
from .conftest import SITE, lane_toml
from .test_core_lane import cross


class Plain:
    @hookimpl
    def gatecore_site_stop(self, site: object) -> str:
        return "plain"


class Async:
    @hookimpl
    async def gatecore_site_stop(self, site: object) -> str:
        await asyncio.sleep(0)
        return "async"


async def test_a_wrapper_runs_around_each_plugins_call_and_sees_its_result() -> None:
    seen: list[Any] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def gatecore_site_stop(self, site: object) -> Generator[None, Any, Any]:
            result = yield
            seen.append(result)
            return result

    pm = make_manager(entry_points_enabled=False)
    for name, plugin in (("plain", Plain()), ("async", Async()), ("wrapper", Wrapper())):
        register(pm, plugin, name)
    results, failures = await Hooks(pm, 0.1).call("gatecore_site_stop", 1.0, site=None)
    assert sorted(results) == [("async", "async"), ("plain", "plain")] and failures == []
    assert len(seen) == 2 and ["plain"] in seen  # and the other saw the async implementation's coroutine


async def test_tracing_and_monitoring_see_every_call() -> None:
    pm = make_manager(entry_points_enabled=False)
    register(pm, Plain(), "plain")
    register(pm, Async(), "async")
    traced: list[str] = []
    pm.trace.root.setwriter(traced.append)
    pm.enable_tracing()
    monitored: list[tuple[str, list[str]]] = []
    pm.add_hookcall_monitoring(lambda name, impls, kw: monitored.append((name, [i.plugin_name for i in impls])),
                               lambda outcome, name, impls, kw: None)
    await Hooks(pm, 0.1).call("gatecore_site_stop", 1.0, site=None)
    assert sorted(plugins for _, plugins in monitored) == [["async"], ["plain"]]
    assert sum("gatecore_site_stop" in line for line in traced) >= 2


async def test_a_plain_hook_that_blocks_the_loop_past_the_budget_is_a_failure_of_its_plugin() -> None:
    class Blocks:
        @hookimpl
        def gatecore_site_stop(self, site: object) -> str:
            time.sleep(0.05)
            return "late"

    pm = make_manager(entry_points_enabled=False)
    register(pm, Blocks(), "blocks")
    register(pm, Plain(), "plain")
    results, failures = await Hooks(pm, 0.01).call("gatecore_site_stop", 1.0, site=None)
    assert results == [("plain", "plain")]
    assert [(f.plugin, type(f.error)) for f in failures] == [("blocks", PluginBlocked)]
    assert "blocked the event loop" in str(failures[0].error)


@pytest.mark.parametrize("exc", [RuntimeError("bug"), asyncio.CancelledError(), SystemExit(1), KeyboardInterrupt()])
async def test_whatever_a_plain_hook_raises_is_its_plugins_failure(exc: BaseException) -> None:
    class Raises:
        @hookimpl
        def gatecore_site_stop(self, site: object) -> None:
            raise exc

    pm = make_manager(entry_points_enabled=False)
    register(pm, Raises(), "raises")
    register(pm, Plain(), "plain")
    results, failures = await Hooks(pm, 0.1).call("gatecore_site_stop", 1.0, site=None)
    assert results == [("plain", "plain")] and [f.plugin for f in failures] == ["raises"]


def test_an_unhashable_plugin_is_refused_with_a_clear_error() -> None:
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

    with pytest.raises(PluginError, match="not hashable"):
        register(make_manager(entry_points_enabled=False), Unhashable(), "u")


async def test_a_wrapper_on_the_decision_report_runs_in_a_site(tmp_path: Path) -> None:
    """Before, the core iterated the implementations itself: a wrapper on gatecore_report_decision never ran."""
    wrapped: list[str] = []

    class Audit:
        @hookimpl(wrapper=True)
        def gatecore_report_decision(self, site: SiteView, decision: Decision) -> Generator[None, Any, Any]:
            wrapped.append(decision.outcome.value)
            return (yield)

    site, rec = make_site(SITE + lane_toml(), tmp_path, {"scripted": scripted, "audit": Audit()})
    async with running(site):
        await cross(site)
        await wait_for(lambda: rec.decisions)
    assert rec.decisions[0].outcome is Outcome.PASS and "pass" in wrapped


async def test_plugins_add_their_parts_to_the_summary_but_take_no_key_already_given(tmp_path: Path) -> None:
    class Parts:
        @hookimpl
        def gatecore_summary(self, site: SiteView) -> dict[str, Any]:
            return {"truth": {"agree": 1, "of": 1}, "site": "not this one"}

    class Nothing:
        @hookimpl
        def gatecore_summary(self, site: SiteView) -> None:
            return None

    plugins = {"scripted": scripted, "parts": Parts(), "nothing": Nothing()}
    site, _ = make_site(SITE + lane_toml(), tmp_path, plugins=plugins)
    summary = site.summary()
    assert summary["truth"] == {"agree": 1, "of": 1}
    assert summary["site"] == "test/site"  # the core's own key is kept
