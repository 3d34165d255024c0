"""A plate source alone (gatecore.testing.BareSite): frames a camera cannot give whole - empty arrays, the
wrong type, a camera raising - are counted and dropped; a source with no camera of its lane says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import gate_plate
from gate_plate.config import PlateSection, VehicleEvidence
from gate_plate.engine import SitePlates
from gatecore.api import (
    Camera,
    DeviceContext,
    DeviceError,
    LaneConfig,
    LaneInfo,
    Observation,
    PresenceChanged,
    TransactionContext,
)
from gatecore.testing import BareSite

from .plate_kit import FakeRead, ScriptedReader


class Frames(Camera):
    """A vendor's camera that gives these payloads in turn (an exception is raised)."""

    def __init__(self, ctx: DeviceContext, payloads: list[Any]) -> None:
        super().__init__(ctx)
        self.payloads = payloads
        self.n = 0

    async def grab(self) -> Observation:
        payload = self.payloads[min(self.n, len(self.payloads) - 1)]
        self.n += 1
        if isinstance(payload, Exception):
            raise payload
        return Observation("frame", self.role, payload, meta={"seq": self.n})


def frame(number: int) -> np.ndarray:
    image = np.zeros((8, 8, 3), np.uint8)
    image[0, 0, 0] = number
    return image


async def collect(tmp_path: Path, payloads: list[Any], roles: tuple[str, ...] = ("plate-front",)) -> Any:
    site = BareSite()
    state = SitePlates.from_section(PlateSection())
    state.reader = ScriptedReader({1: [FakeRead("51G12345")]})
    site.stash[gate_plate.PLATES] = gate_plate.Plates(None, state)
    devices = {role: Frames(DeviceContext(site, "l1", role, "vendor.camera", lambda e: None), payloads)
               for role in roles}
    cfg = VehicleEvidence(kind="plate.vehicle", source="plate", cameras=("plate-front",), manifest=False,
                          max_frames=len(payloads), frame_interval_ms=0)
    source = gate_plate.gatecore_make_evidence_source(cfg, LaneInfo(site, LaneConfig(id="l1"), devices))
    txn = TransactionContext("t1", site.id, "l1", PresenceChanged("entry", occupied=True), devices)
    return await source.collect(txn), state


async def test_empty_wrong_and_failed_frames_are_dropped_and_counted_and_the_good_one_read(tmp_path: Path) -> None:
    payloads = [np.empty((0, 0, 3), np.uint8), None, np.zeros((8, 8), np.float32), DeviceError("lost"), frame(1)]
    ev, state = await collect(tmp_path, payloads)
    assert ev.reason == "read" and ev.summary["bad_frames"] == 4 and ev.summary["frames"] == 1
    assert state.counts["bad_frame"] == 4 and state.reader.seen == [1]


async def test_only_bad_frames_give_no_read(tmp_path: Path) -> None:
    ev, _ = await collect(tmp_path, [b"not an image", np.empty((0,), np.uint8)])
    assert ev.reason == "no_read" and ev.summary["bad_frames"] == 2 and ev.confidence == 0


async def test_a_source_whose_cameras_are_not_in_the_lane_says_no_camera(tmp_path: Path) -> None:
    ev, _ = await collect(tmp_path, [frame(1)], roles=("elsewhere",))
    assert ev.reason == "no_camera"
