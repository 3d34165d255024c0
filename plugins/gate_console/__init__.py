"""gate_console: the officers' console, a web page served by the controller itself.

    [plugins.gate_console]
    listen = "10.20.0.5:8443"                  # one address of this machine (loopback without tls)
    accounts = "/etc/gatecore/console-accounts.json"   # gatecore console user add NAME --role ROLE --accounts ...
    tls = { cert_file = "/etc/gatecore/console.pem", key_file = "/etc/gatecore/console.key" }

Officers watch every lane live (state, last decision and its latency, device links, faults), resolve the
crossings referred to them (pass, or deny with a reason), take lanes to manual and back, acknowledge
faults and read the history. Everything they do is on the record: their decisions and manual mode are the
lanes' own records (``site.resolve``, ``site.set_manual``), logins, failures, lock-outs and refusals are
officer events (``site.report_officer_event``), all reported to the IOC.
"""

from __future__ import annotations

import argparse

from gatecore.api import ConfigModel, Decision, Fault, LaneStateChange, SiteView, StashKey, hookimpl

from .cli import add_console_command
from .config import ConsoleSection
from .console import Console
from .web import Server

NAME = "gate_console"
SERVER = StashKey[Server]()


def _server(site: SiteView) -> Server | None:
    return site.stash.get(SERVER, None)


@hookimpl
def gatecore_config_section() -> tuple[str, type[ConfigModel]]:
    return NAME, ConsoleSection


@hookimpl
def gatecore_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_console_command(subparsers)


@hookimpl
def gatecore_site_setup(site: SiteView) -> None:
    cfg = site.plugin_config(NAME)
    if isinstance(cfg, ConsoleSection):
        site.stash[SERVER] = Server(Console(site, cfg))


@hookimpl
async def gatecore_site_start(site: SiteView) -> None:
    server = _server(site)
    if server is not None:
        await server.start()


@hookimpl
async def gatecore_site_stop(site: SiteView) -> None:
    server = _server(site)
    if server is not None:
        await server.stop()


def _report(site: SiteView, record: Decision | Fault | LaneStateChange) -> None:
    server = _server(site)
    if server is not None:
        server.console.hub.report(record)  # noted only: made into what the page shows off the lane's way


@hookimpl
def gatecore_report_decision(site: SiteView, decision: Decision) -> None:
    _report(site, decision)


@hookimpl
def gatecore_report_fault(site: SiteView, fault: Fault) -> None:
    _report(site, fault)


@hookimpl
def gatecore_report_lane_state(site: SiteView, change: LaneStateChange) -> None:
    _report(site, change)
