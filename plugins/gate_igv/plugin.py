"""The hooks: the profile section and its checks, one fleet control per site started with the site, a
cargo lane's PASS handed to it as a trip, hand-overs from the partner handed to it, the sub-commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from gatecore.api import (
    ConfigModel,
    Decision,
    Outcome,
    PartnerMessage,
    Profile,
    SiteView,
    StashKey,
    hookimpl,
)

from . import schemas
from .client import VehicleId
from .config import IgvSection
from .control import FleetControl
from .vehicle_sim import SimSettings, VehicleSim, simulated
from .versions import VERSIONS
from .yard import Yard, problems, versions_in_use

NAME = "gate_igv"
FLEET = StashKey[FleetControl]()
SIMS = StashKey[list[VehicleSim]]()


@hookimpl
def gatecore_config_section() -> tuple[str, type[ConfigModel]]:
    return NAME, IgvSection


@hookimpl
def gatecore_check_profile(profile: Profile) -> list[tuple[tuple[str | int, ...], str]]:
    """The yard (unknown nodes in edges, stations on missing nodes, unreachable stations, actions the
    standard does not define, their parameters), the dispatch rules, the fleet, the schema directory."""
    cfg = profile.plugin_config(NAME)
    if not isinstance(cfg, IgvSection):
        return []
    found = problems(cfg, [lane.id for lane in profile.lanes])
    try:
        root = schemas.search(cfg.schemas)
    except schemas.SchemaError as exc:
        found.append((("schemas",), str(exc)))
    else:
        found += [(("schemas",), problem) for problem in schemas.problems(root, versions_in_use(cfg))]
    return [(("plugins", NAME, *path), message) for path, message in found]


@hookimpl
def gatecore_site_setup(site: SiteView) -> None:
    cfg = site.plugin_config(NAME)
    if not isinstance(cfg, IgvSection):
        return

    async def fault(lane: str, code: str, txn: str | None) -> None:
        if lane in site.lanes:
            await site.plugin_fault(lane, NAME, code, txn)

    fleet = site.stash[FLEET] = FleetControl(cfg, site.id, partner=site.send_to_partner, fault=fault)
    sims = site.stash[SIMS] = simulated_fleet(cfg, fleet)
    fleet.extra += [sim.run for sim in sims]


def simulated_fleet(cfg: IgvSection, fleet: FleetControl) -> list[VehicleSim]:
    """The profile's ``simulate`` vehicles, at ``sim_start`` (default: the parking stations, in turn)."""
    if not cfg.simulate:
        return []
    yard = fleet.yard
    starts = list(cfg.sim_start) or [s.node for s in yard.stations.values() if s.kind == "parking"] \
        or [next(iter(yard.nodes))]
    vehicles = [(VehicleId(v.manufacturer, v.serial), VERSIONS[v.version or "2.1.0"],
                 yard.nodes[starts[i % len(starts)]]) for i, v in enumerate(cfg.simulate)]
    mqtt = getattr(fleet.bus, "settings", None) if cfg.transport == "mqtt" else None
    return simulated(vehicles, fleet.schemas, cfg.interface_name, SimSettings(speed=cfg.sim_speed), fleet.broker, mqtt)


@hookimpl
def gatecore_site_start(site: SiteView) -> None:
    fleet = site.stash.get(FLEET, None)
    if fleet is not None:
        site.spawn(fleet.serve(), name="igv/fleet")


@hookimpl
async def gatecore_site_stop(site: SiteView) -> None:
    """Stop dispatching; let the records drain for a moment (they stay in the outbox if they cannot)."""
    fleet = site.stash.get(FLEET, None)
    if fleet is not None:
        fleet.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fleet.done.wait(), 2.0)


@hookimpl
def gatecore_summary(site: SiteView) -> dict[str, Any] | None:
    fleet = site.stash.get(FLEET, None)
    return {"igv": fleet.figures()} if fleet is not None else None


@hookimpl
async def gatecore_report_decision(site: SiteView, decision: Decision) -> None:
    """A PASS on a lane with a dispatch rule becomes a trip, committed before the lane acts on it (the
    barrier opens only after every reporter returned); the trip itself runs in the background."""
    fleet = site.stash.get(FLEET, None)
    if fleet is not None and decision.outcome is Outcome.PASS:
        await fleet.submit(decision.stamp.lane_id, decision.txn_id)


@hookimpl
def gatecore_partner_receive(site: SiteView, message: PartnerMessage) -> bool | None:
    fleet = site.stash.get(FLEET, None)
    return fleet.receive_handover(message) if fleet is not None else None


@hookimpl
def gatecore_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .cli import add_commands

    add_commands(subparsers)


__all__: Sequence[str] = ["FLEET", "NAME", "Yard"]
