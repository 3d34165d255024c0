"""Profile models of the simulation plugin."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from gatecore.api import (
    FLAG,
    NUMBER,
    Barrier,
    Camera,
    ConfigModel,
    DeviceConfig,
    Display,
    EvidenceConfig,
    Group,
    Identifier,
    LaneConfig,
    Lights,
    Presence,
    Reader,
    Reports,
)

from .world import load_world


class FaultPlan(ConfigModel):
    """Make one device misbehave for a while: ``fail`` (commands error), ``stall`` (commands and
    feedback hang), ``drop`` (the device drops off the bus)."""

    lane: Identifier
    role: Identifier
    mode: Literal["fail", "stall", "drop"]
    at_s: float = Field(ge=0, description="seconds after start")
    for_s: float = Field(5.0, gt=0, description="how long the fault lasts")


class SimSection(ConfigModel):
    """[plugins.gate_sim]: simulated traffic for every lane with simulated devices."""

    seed: int = Field(1, description="seed of every random choice, for repeatable runs")
    traffic: bool = Field(True, description="generate arrivals (Poisson, per lane)")
    arrivals_per_min: float = Field(30.0, gt=0, le=6000, description="mean arrival rate per lane")
    dwell_ms: int = Field(400, ge=0, le=60_000, description="time to pass each loop once the barrier is open")
    officer_ms: int = Field(1500, ge=0, le=600_000, description="time a referred or denied crossing takes to leave")
    faults: tuple[FaultPlan, ...] = ()
    world: str | None = Field(None, description="the world's index (world.json, written by `python -m tools.demo`): "
                              "who arrives at each lane it names, what they carry and what the lane should decide")

    @field_validator("world")
    @classmethod
    def _a_world(cls, world: str | None) -> str | None:
        if world is not None:
            load_world(Path(world))  # a missing or malformed index is the profile's error, at this key
        return world


class SimPresenceConfig(DeviceConfig):
    """A simulated loop detector or presence sensor."""

    makes = Presence
    kind: Literal["sim.presence"]


class SimBarrierConfig(DeviceConfig):
    """A simulated barrier with travel time and position feedback."""

    makes = Barrier
    kind: Literal["sim.barrier"]
    travel_ms: int = Field(800, ge=0, le=30_000, description="time to open or close fully")


class SimLightsConfig(DeviceConfig):
    makes = Lights
    kind: Literal["sim.lights"]


class SimDisplayConfig(DeviceConfig):
    makes = Display
    kind: Literal["sim.display"]


class SimReaderConfig(DeviceConfig):
    """A simulated card/QR reader: each arrival presents a pass."""

    makes = Reader
    kind: Literal["sim.reader"]


class SimCameraConfig(DeviceConfig):
    """A camera that replays image files from ``images`` (a folder) or generates frames."""

    makes = Camera
    kind: Literal["sim.camera"]
    images: str | None = Field(None, description="folder of .png/.jpg files to replay in name order")
    shows: Literal["pass", "face", "front", "rear"] | None = Field(
        None, description="frames of what the arrival of the world (plugins.gate_sim.world) shows this camera: a "
        "traveller's pass or face, a truck's front or rear (one after another when there are several)")
    size: tuple[int, int] = Field((640, 480), description="width, height of generated frames")

    @field_validator("images")
    @classmethod
    def _a_folder(cls, images: str | None) -> str | None:
        if images is not None and not Path(images).is_dir():
            raise ValueError(f"images {images!r} is not a folder")
        return images


class SimEvidenceConfig(EvidenceConfig):
    """SIMULATED evidence: outcomes drawn at random with these weights, after a random latency."""

    reports: ClassVar[Reports] = Reports(["simulated"], simulated=FLAG, latency_ms=NUMBER,
                                         weights=Group(**{"pass": NUMBER, "deny": NUMBER, "refer": NUMBER}))
    kind: Literal["sim.evidence"]
    pass_weight: float = Field(0.9, ge=0)
    deny_weight: float = Field(0.02, ge=0)
    refer_weight: float = Field(0.08, ge=0)
    latency_ms: tuple[float, float] = Field((20.0, 120.0), description="min, max latency")

    @model_validator(mode="after")
    def _weights(self) -> SimEvidenceConfig:
        if self.pass_weight + self.deny_weight + self.refer_weight <= 0:
            raise ValueError("at least one outcome weight must be positive")
        if self.latency_ms[0] > self.latency_ms[1]:
            raise ValueError("latency_ms must be [min, max] with min <= max")
        return self


SIM_DEVICES: tuple[type[DeviceConfig], ...] = (
    SimPresenceConfig, SimBarrierConfig, SimLightsConfig, SimDisplayConfig, SimReaderConfig, SimCameraConfig,
)


def fault_problems(section: SimSection, lanes: Sequence[LaneConfig]) -> list[tuple[tuple[str | int, ...], str]]:
    """Each fault plan names a lane of the site and a simulated device of that lane (key paths under the section)."""
    by_id = {lane.id: lane for lane in lanes}
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for k, plan in enumerate(section.faults):
        lane = by_id.get(plan.lane)
        device = next((d for d in lane.devices if d.role == plan.role), None) if lane else None
        if lane is None:
            problems.append((("faults", k, "lane"), f"no lane {plan.lane!r} in this site; lanes: "
                                                    f"{', '.join(map(repr, by_id))}"))
        elif device is None:
            problems.append((("faults", k, "role"), f"lane {plan.lane!r} has no device with role {plan.role!r}; "
                                                    f"roles: {', '.join(repr(d.role) for d in lane.devices)}"))
        elif not isinstance(device, SIM_DEVICES):
            problems.append((("faults", k, "role"), f"device {plan.role!r} of lane {plan.lane!r} is not simulated "
                                                    f"(kind {device.kind!r}): faults go to sim.* devices only"))
    return problems
