"""Safety invariant: a barrier is never commanded open without a PASS decision for the transaction in
progress, whatever the order of arrivals, evidence, timeouts, device faults, manual mode and shutdown.

The check runs outside the lane: the barrier (``watched.barrier`` of the scripted test plugin) compares
each open command with the decisions and state changes the core *reported* through the hooks.
Run longer with ``GATECORE_PROPERTY_EXAMPLES=2000``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatecore.api import Outcome, Site
from gatecore.plugins import make_manager, register
from gatecore.profile import load_profile

from . import scripted
from .conftest import SITE, lane_toml, running
from .scripted import REPORTS, SCRIPT, Answer, Reports

EXAMPLES = int(os.environ.get("GATECORE_PROPERTY_EXAMPLES", "60"))

ROLES = ["barrier", "lights", "display", "entry", "exit"]
action = st.one_of(
    st.tuples(st.just("arrive")),
    st.tuples(st.just("leave")),
    st.tuples(st.just("pass_exit")),
    st.tuples(st.just("evidence"), st.sampled_from([Outcome.PASS, Outcome.DENY, Outcome.REFER, None]),
              st.sampled_from(["ok", "ok", "error", "hang"]), st.sampled_from([0.0, 0.02, 0.25])),
    st.tuples(st.just("fault"), st.sampled_from(ROLES),
              st.sampled_from(["fail", "stall", "drop", "no-feedback", None, None])),
    st.tuples(st.just("manual"), st.booleans()),
    st.tuples(st.just("sleep"), st.sampled_from([0.0, 0.005, 0.03, 0.12, 0.3])),
)


def build_site() -> Site:
    pm = make_manager()
    register(pm, scripted, "scripted")
    path = Path(tempfile.mkdtemp()) / "site.toml"
    path.write_text(SITE + lane_toml(barrier="watched.barrier", barrier_extra="travel_ms = 5"))
    return Site(load_profile(path, pm), pm)


async def apply(site: Site, step: tuple[Any, ...]) -> None:
    lane = site.lanes["l1"]
    dev: Any = lane.info.devices
    match step:
        case ("arrive",):
            dev["entry"].set(True)
        case ("leave",):
            dev["entry"].set(False)
        case ("pass_exit",):
            dev["exit"].set(True)
            await asyncio.sleep(0.005)
            dev["exit"].set(False)
        case ("evidence", outcome, mode, delay):
            site.stash.setdefault(SCRIPT, {}).setdefault("a", []).append(Answer(outcome, delay, mode))
        case ("fault", role, mode):
            if role == "barrier":
                dev[role].inject(mode)
            else:
                dev[role].inject(mode if mode in ("fail", "stall", "drop") else None)
        case ("manual", on):
            lane.enter_manual() if on else lane.leave_manual()
        case ("sleep", seconds):
            await asyncio.sleep(seconds)


async def scenario(steps: list[tuple[Any, ...]]) -> Reports:
    site = build_site()
    async with running(site):
        for step in steps:
            await apply(site, step)
        await asyncio.sleep(0.05)
    return site.stash.setdefault(REPORTS, Reports())


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, max_size=30))
def test_barrier_never_opens_without_pass_for_the_transaction_in_progress(steps: list[tuple[Any, ...]]) -> None:
    reports = asyncio.run(scenario(steps))
    assert reports.violations == []
    passes = {d.txn_id for d in reports.decisions if d.outcome is Outcome.PASS}
    assert {txn for txn, _ in reports.opens} <= passes


def test_the_watch_catches_an_open_without_pass() -> None:
    """The property above can fail: a barrier opened behind the lane's back is reported as a violation."""

    async def rogue() -> Reports:
        site = build_site()
        async with running(site):
            await site.lanes["l1"].barrier.open()
        return site.stash.setdefault(REPORTS, Reports())

    assert asyncio.run(rogue()).violations
