"""Profile models of the simulation plugin."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from gatecore.api import ConfigModel, DeviceConfig, EvidenceConfig, Identifier


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


class SimPresenceConfig(DeviceConfig):
    """A simulated loop detector or presence sensor."""

    kind: Literal["sim.presence"]


class SimBarrierConfig(DeviceConfig):
    """A simulated barrier with travel time and position feedback."""

    kind: Literal["sim.barrier"]
    travel_ms: int = Field(800, ge=0, le=30_000, description="time to open or close fully")


class SimLightsConfig(DeviceConfig):
    kind: Literal["sim.lights"]


class SimDisplayConfig(DeviceConfig):
    kind: Literal["sim.display"]


class SimReaderConfig(DeviceConfig):
    """A simulated card/QR reader: each arrival presents a pass."""

    kind: Literal["sim.reader"]


class SimCameraConfig(DeviceConfig):
    """A camera that replays image files from ``images`` (a folder) or generates frames."""

    kind: Literal["sim.camera"]
    images: str | None = Field(None, description="folder of .png/.jpg files to replay in name order")
    size: tuple[int, int] = Field((640, 480), description="width, height of generated frames")


class SimEvidenceConfig(EvidenceConfig):
    """SIMULATED evidence: outcomes drawn at random with these weights, after a random latency."""

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
