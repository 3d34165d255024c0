"""gate_ioc: report decisions, faults, lane states, officers' console events and heartbeats to the
operations centre (IOC).

Every report is committed to a durable outbox before its hook returns, then delivered in order per
lane over MQTT (QoS 1, versioned topics ``{prefix}/{site}/{lane}/{decision|fault|state|officer|heartbeat}``,
retained online/offline status with a last will) or, with no broker, appended to a JSONL file.
With ``share`` configured, shared state (face galleries, watchlists) travels between controllers over
the broker, signed with Ed25519 (``share.py``).
"""

from __future__ import annotations

import argparse

from gatecore.api import (
    ConfigModel,
    Decision,
    Fault,
    LaneStateChange,
    OfficerEvent,
    SharedState,
    SiteView,
    StashKey,
    hookimpl,
)

from .config import IocSection
from .reporter import Reporter
from .tool import add_ioc_command, add_outbox_command

NAME = "gate_ioc"
REPORTER = StashKey[Reporter]()


def _reporter(site: SiteView) -> Reporter | None:
    return site.stash.get(REPORTER, None)


@hookimpl
def gatecore_site_setup(site: SiteView) -> None:
    """The site's reporter (a lane may report before ``gatecore_site_start``: it opens on first use)."""
    cfg = site.plugin_config(NAME)
    if isinstance(cfg, IocSection):
        site.stash[REPORTER] = Reporter(cfg, site)


@hookimpl
def gatecore_config_section() -> tuple[str, type[ConfigModel]]:
    return NAME, IocSection


@hookimpl
async def gatecore_site_start(site: SiteView) -> None:
    reporter = _reporter(site)
    if reporter is not None:
        await reporter.open()
        site.spawn(reporter.serve(), name="ioc/serve")


@hookimpl
async def gatecore_site_stop(site: SiteView) -> None:
    reporter = _reporter(site)
    if reporter is not None:
        await reporter.stop()


async def _report(site: SiteView, record: Decision | Fault | LaneStateChange | OfficerEvent) -> None:
    reporter = _reporter(site)
    if reporter is not None:
        await reporter.report(record)


@hookimpl
async def gatecore_report_decision(site: SiteView, decision: Decision) -> None:
    await _report(site, decision)


@hookimpl
async def gatecore_report_fault(site: SiteView, fault: Fault) -> None:
    await _report(site, fault)


@hookimpl
async def gatecore_report_lane_state(site: SiteView, change: LaneStateChange) -> None:
    await _report(site, change)


@hookimpl
async def gatecore_report_officer_event(site: SiteView, event: OfficerEvent) -> None:
    """A console's login, failed login, lock-out, fault acknowledgement...: on ``.../{lane}/officer``."""
    await _report(site, event)


@hookimpl
async def gatecore_share_state(site: SiteView, update: SharedState) -> None:
    """Shared state goes to the other controllers over the broker, signed, through the outbox."""
    reporter = _reporter(site)
    if reporter is not None:
        await reporter.share(update)


@hookimpl
def gatecore_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_outbox_command(subparsers, NAME)
    add_ioc_command(subparsers, NAME)
