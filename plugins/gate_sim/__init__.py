"""gate_sim: simulated lane devices, SIMULATED evidence, traffic and fault injection.

Runs a whole site with no hardware: loops, barriers with travel time, lights, displays, readers,
cameras replaying files or generated frames, Poisson traffic per lane, and faults on a schedule.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gatecore.api import (
    ConfigModel,
    Decision,
    Device,
    DeviceConfig,
    DeviceContext,
    EvidenceConfig,
    EvidenceSource,
    LaneInfo,
    Profile,
    SiteView,
    StashKey,
    hookimpl,
)

from . import config as c
from .devices import SimBarrier, SimCamera, SimDisplay, SimLights, SimPresence, SimReader
from .evidence import SimEvidence
from .traffic import Traffic, run_faults
from .truth import Judge
from .world import World, load_world

NAME = "gate_sim"
WORLD = StashKey[World]()
JUDGE = StashKey[Judge]()


@hookimpl
def gatecore_config_section() -> tuple[str, type[ConfigModel]]:
    return NAME, c.SimSection


@hookimpl
def gatecore_device_kinds() -> Sequence[type[DeviceConfig]]:
    return c.SIM_DEVICES


@hookimpl
def gatecore_evidence_kinds() -> Sequence[type[EvidenceConfig]]:
    return (c.SimEvidenceConfig,)


@hookimpl
def gatecore_site_setup(site: SiteView) -> None:
    """One simulated world per site (sim devices work without a ``[plugins.gate_sim]`` section)."""
    cfg = site.plugin_config(NAME)
    if not isinstance(cfg, c.SimSection):
        site.stash[WORLD] = World(seed=1)
        return
    site.stash[WORLD] = World(seed=cfg.seed, lines=load_world(Path(cfg.world)) if cfg.world else {})
    if cfg.world:
        site.stash[JUDGE] = Judge()


@hookimpl
def gatecore_check_profile(profile: Profile) -> list[tuple[tuple[str | int, ...], str]]:
    cfg = profile.plugin_config(NAME)
    if not isinstance(cfg, c.SimSection):
        return []
    return [(("plugins", NAME, *path), message) for path, message in c.fault_problems(cfg, profile.lanes)]


@hookimpl
def gatecore_make_device(config: DeviceConfig, ctx: DeviceContext) -> Device | None:
    lane = ctx.site.stash[WORLD].lane(ctx.lane_id)
    device: Device
    match config:
        case c.SimPresenceConfig():
            device = SimPresence(ctx, lane)
        case c.SimBarrierConfig(travel_ms=travel):
            device = SimBarrier(ctx, lane, travel)
        case c.SimLightsConfig():
            device = SimLights(ctx, lane)
        case c.SimDisplayConfig():
            device = SimDisplay(ctx, lane)
        case c.SimReaderConfig():
            device = SimReader(ctx, lane)
        case c.SimCameraConfig(images=images, size=size, shows=shows):
            device = SimCamera(ctx, lane, images, size, seed=zlib.crc32(f"{ctx.lane_id}/{ctx.role}".encode()),
                               shows=shows)
        case _:
            return None
    lane.devices[ctx.role] = device
    return device


@hookimpl
def gatecore_make_evidence_source(config: EvidenceConfig, lane: LaneInfo) -> EvidenceSource | None:
    if isinstance(config, c.SimEvidenceConfig):
        return SimEvidence(config, lane.id, lane.site.stash[WORLD].seed)
    return None


@hookimpl
def gatecore_report_decision(site: SiteView, decision: Decision) -> None:
    """With a world: each lane's own decision (not an officer's later one) about the arrival at the lane."""
    judge = site.stash.get(JUDGE, None)
    lane = site.lanes.get(decision.stamp.lane_id)
    if judge is None or lane is None or decision.officer is not None:
        return
    world = site.stash[WORLD].lane(lane.id)
    judge.decided(lane.config.flow or "other", decision, world.current, world, asyncio.get_running_loop().time())


@hookimpl
def gatecore_summary(site: SiteView) -> dict[str, Any] | None:
    judge = site.stash.get(JUDGE, None)
    return judge.summary(site) if judge is not None else None


@hookimpl
def gatecore_site_start(site: SiteView) -> None:
    cfg = site.plugin_config(NAME)
    if not isinstance(cfg, c.SimSection):
        return
    world = site.stash[WORLD]
    for lane_id, lane in site.lanes.items():
        traffic = Traffic(world.lane(lane_id), lane.config.trigger, lane.config.exit, lane.config.barrier, cfg,
                          random.Random(f"{cfg.seed}/{lane_id}"), lane)
        if cfg.traffic and traffic.ready():
            site.spawn(traffic.run(), f"sim/{lane_id}/traffic")
    if cfg.faults:
        site.spawn(run_faults(world, cfg), "sim/faults")
