"""A test kit for plugin authors: build a site from profile text, run it, and see what it reported.

    from gatecore.testing import Recorder, make_site, running, wait_for

    async def test_my_evidence(tmp_path):
        site, rec = make_site(PROFILE, tmp_path, plugins={"acme": acme_plugin})
        async with running(site):
            ...
            await wait_for(lambda: rec.decisions)
        assert rec.decisions[0].outcome is Outcome.PASS
"""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatecore import hookimpl
from gatecore.config import ConfigModel
from gatecore.plugins import make_manager, register
from gatecore.profile import load_profile
from gatecore.site import Site
from gatecore.stash import Stash
from gatecore.types import Decision, Fault, LaneState, LaneStateChange, OfficerEvent, PartnerMessage, SharedState
from gatecore.views import LaneView, SiteView


@dataclass(eq=False)  # a plugin object must be hashable (pluggy keeps sets of plugins)
class Recorder:
    """A plugin that keeps every record the core reports, in order."""

    decisions: list[Decision] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    states: list[LaneStateChange] = field(default_factory=list)
    officer_events: list[OfficerEvent] = field(default_factory=list)

    @hookimpl
    def gatecore_report_decision(self, site: SiteView, decision: Decision) -> None:
        self.decisions.append(decision)

    @hookimpl
    def gatecore_report_fault(self, site: SiteView, fault: Fault) -> None:
        self.faults.append(fault)

    @hookimpl
    def gatecore_report_lane_state(self, site: SiteView, change: LaneStateChange) -> None:
        self.states.append(change)

    @hookimpl
    def gatecore_report_officer_event(self, site: SiteView, event: OfficerEvent) -> None:
        self.officer_events.append(event)


def make_site(profile: str, directory: Path, plugins: Mapping[str, Any] | None = None,
              entry_points: bool = True) -> tuple[Site, Recorder]:
    """A site from profile text (written to ``directory/site.toml``), with extra plugins registered
    by name (replacing an installed plugin of the same name) and a :class:`Recorder`."""
    pm = make_manager(entry_points_enabled=entry_points)
    for name, plugin in (plugins or {}).items():
        if pm.get_plugin(name) is not None:  # installed too: the one under test replaces it
            pm.unregister(name=name)
        register(pm, plugin, name)
    recorder = Recorder()
    register(pm, recorder, "recorder")
    path = directory / "site.toml"
    path.write_text(textwrap.dedent(profile))
    return Site(load_profile(path, pm), pm), recorder


@dataclass
class BareSite:
    """A :class:`gatecore.api.SiteView` with no lanes, for unit tests of one factory or one device
    without a whole site: ``sections`` are the ``[plugins.NAME]`` sections it answers with, ``spawned``
    collects what is spawned (close or run them yourself), ``shared`` what is shared,
    ``officer_events`` what is reported, ``to_partner`` what is sent to the partner gate (``partner_link``:
    whether a link takes it), ``faults`` the faults plugins reported (``plugin_fault``: lane, plugin, code,
    transaction).

        site = BareSite(sections={"acme_plate": AcmeSection(...)})
        acme_plate.gatecore_site_setup(site)
        source = acme_plate.gatecore_make_evidence_source(cfg, LaneInfo(site, LaneConfig(id="l1"), devices))
    """

    id: str = "site"
    sections: Mapping[str, ConfigModel] = field(default_factory=dict)
    stash: Stash = field(default_factory=Stash)
    lanes: Mapping[str, LaneView] = field(default_factory=dict)
    spawned: list[tuple[str, Coroutine[Any, Any, Any]]] = field(default_factory=list)
    shared: list[SharedState] = field(default_factory=list)
    officer_events: list[OfficerEvent] = field(default_factory=list)
    to_partner: list[PartnerMessage] = field(default_factory=list)
    partner_link: bool = False
    faults: list[tuple[str, str, str, str | None]] = field(default_factory=list)

    def plugin_config(self, name: str) -> ConfigModel | None:
        return self.sections.get(name)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        self.spawned.append((name, coro))

    async def share_state(self, update: SharedState) -> None:
        self.shared.append(update)

    async def apply_state(self, update: SharedState) -> bool:
        return False

    async def report_officer_event(self, event: OfficerEvent) -> str | None:
        problem = event.problem()
        if problem is None:
            self.officer_events.append(event)
        return problem

    async def plugin_fault(self, lane_id: str, plugin: str, code: str, txn_id: str | None = None) -> None:
        self.faults.append((lane_id, plugin, code, txn_id))

    async def send_to_partner(self, message: PartnerMessage) -> bool:
        self.to_partner.append(message)
        return self.partner_link

    async def partner_received(self, message: PartnerMessage) -> bool:
        return False


async def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` is true; ``TimeoutError`` after ``timeout`` s (a hang guard)."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polls state owned by the code under test
            await asyncio.sleep(0.002)


@contextlib.asynccontextmanager
async def running(site: Site, timeout: float = 10.0) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``site`` in the background until the block ends; every lane is idle when the block starts."""
    task = asyncio.create_task(site.run())
    await wait_for(lambda: task.done() or all(lane.state is LaneState.IDLE for lane in site.lanes.values()), timeout)
    if task.done():
        task.result()  # the site ended before its lanes were idle: say why
    try:
        yield task
    finally:
        site.request_stop()
        await asyncio.wait_for(task, timeout)
