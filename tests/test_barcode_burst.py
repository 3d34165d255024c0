"""A camera that delivers bursts: the pass evidence reads the sharpest frame of each burst first."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

import gate_barcode
from gate_barcode import synth
from gate_barcode.deblur import Blur
from gatecore.api import Camera, Device, DeviceConfig, DeviceContext, Observation, Outcome, hookimpl
from gatecore.testing import make_site, running, wait_for

from .barcode_kit import issue, new_issuer, profile, write_trust

LANE = """
[[lanes]]
id = "in-1"
trigger = "entry"
exit = "exit"
barrier = "barrier"
  [lanes.policy]
  require = ["pass"]
  deadline_ms = 3000
  [[lanes.devices]]
  kind = "sim.presence"
  role = "entry"
  [[lanes.devices]]
  kind = "sim.presence"
  role = "exit"
  [[lanes.devices]]
  kind = "sim.barrier"
  role = "barrier"
  [[lanes.devices]]
  kind = "test.burst_camera"
  role = "pass-cam"
  [[lanes.evidence]]
  kind = "barcode.pass"
  source = "pass"
  camera = "pass-cam"
  deadline_ms = 2500
  frame_interval_ms = 5
"""


class BurstCameraConfig(DeviceConfig):
    """A camera whose every grab is a burst of frames (the test sets them)."""

    makes = Camera
    kind: Literal["test.burst_camera"]


class BurstCamera(Camera):
    frames: tuple[np.ndarray, ...] = ()

    async def grab(self) -> Observation:
        return Observation("frame", self.role, self.frames)


class BurstPlugin:
    @hookimpl
    def gatecore_device_kinds(self) -> Sequence[type[DeviceConfig]]:
        return (BurstCameraConfig,)

    @hookimpl
    def gatecore_make_device(self, config: DeviceConfig, ctx: DeviceContext) -> Device | None:
        return BurstCamera(ctx) if isinstance(config, BurstCameraConfig) else None


def _burst(text: str) -> tuple[np.ndarray, ...]:
    """A pass smeared past reading in two frames of the burst, sharp in the last."""
    sharp = synth.single_code_frame(text, "QRCode", 3.0, size=(480, 640), background=200)
    smeared = [np.asarray(cv2.filter2D(sharp, -1, Blur("motion", 40.0, np.radians(a)).kernel()), np.uint8)
               for a in (0, 90)]
    return (*smeared, sharp)


async def test_a_pass_in_one_frame_of_a_burst_gives_pass(tmp_path: Path) -> None:
    issuer = new_issuer()
    trust = write_trust(tmp_path / "trust.json", issuer)
    site, rec = make_site(profile(tmp_path, [LANE], barcode=f'trust_list = "{trust}"'), tmp_path,
                          plugins={"gate_barcode": gate_barcode, "test_burst": BurstPlugin()})
    camera = site.lanes["in-1"].devices["pass-cam"]
    assert isinstance(camera, BurstCamera)
    camera.frames = _burst(issue(issuer))
    async with running(site):
        site.lanes["in-1"].devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(lambda: rec.decisions, timeout=20)
    evidence = rec.decisions[0].evidence["pass"]
    assert evidence.outcome is Outcome.PASS and evidence.summary["via"] == "camera"
    assert evidence.summary["frames"] == 3  # one burst of three frames was enough
