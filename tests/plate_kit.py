"""Helpers of the plate tests: cargo-lane profiles, list files, frames a simulated camera replays, a scripted
frame reader (reads chosen per frame, for the decisions' logic) and the plugin that puts it in a site.

A frame's number is written in its top-left pixel, so the scripted reader knows which frame it reads even
when the two cameras of a lane are read at once."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

import gate_plate
from gatecore.api import LaneState, SiteView, hookimpl
from gatecore.testing import Recorder, wait_for

MANIFEST = """plate,container,ref
51G-123.45,MSKU1234565;CSQU3054383,M-0001
29C1 234.56,,M-0002
粤B·12345,TGHU1234567,M-0003
"""
STOLEN = '{"plate": "30A-999.99", "ref": "case-17"}\n{"plate": "88A*", "ref": "case-18"}\n'

SITE = """
[site]
id = "mong-cai/bac-luan-2"
[run]
shutdown_timeout_s = 3.0
report_timeout_ms = 1000
[plugins.gate_sim]
traffic = false
[plugins.gate_plate]
{models}
manifest = {{ path = "{dir}/manifest.csv" }}
watchlists.stolen = {{ path = "{dir}/stolen.jsonl", on_hit = "deny" }}
reload_every_s = {reload}
"""

LANE = """
[[lanes]]
id = "{lane}"
exit = "exit"
  [lanes.policy]
  require = {require}
  deadline_ms = 3000
  confirm_timeout_ms = 1000
  clear_timeout_ms = 2000
  refer_hold_ms = 0
  recover_every_ms = 50
  [[lanes.devices]]
  kind = "sim.presence"
  role = "entry"
  [[lanes.devices]]
  kind = "sim.presence"
  role = "exit"
  [[lanes.devices]]
  kind = "sim.barrier"
  role = "barrier"
  travel_ms = 0
  [[lanes.devices]]
  kind = "sim.camera"
  role = "plate-front"
  images = "{dir}/front"
  [[lanes.devices]]
  kind = "sim.camera"
  role = "plate-rear"
  images = "{dir}/rear"
  [[lanes.evidence]]
  kind = "plate.vehicle"
  source = "plate"
  deadline_ms = 2500
  window_ms = {window}
  max_frames = {frames}
  frame_interval_ms = 1
"""

CONTAINER = """
  [[lanes.devices]]
  kind = "sim.camera"
  role = "container"
  images = "{dir}/side"
  [[lanes.evidence]]
  kind = "plate.container"
  source = "container"
  plate_source = "plate"
  deadline_ms = 2500
  window_ms = {window}
  max_frames = {frames}
  frame_interval_ms = 1
"""


def model_folders(root: Path) -> str:
    """Model folders that pass the check (a file and its recipe's hash) for a site whose reader is scripted:
    the ``detector``/``recogniser`` lines of a section."""
    lines = []
    for key, name in (("detector", "detect"), ("recogniser", "recog")):
        folder = root / "models" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.onnx").write_bytes(b"not a model: the tests' reader is scripted")
        (folder / "config.json").write_text("{}")
        digest = hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
        (folder / "recipe.json").write_text(json.dumps({"model_sha256": digest}))
        lines.append(f'{key} = "{folder}"')
    return "\n".join(lines)


def write_lists(root: Path, manifest: str = MANIFEST, stolen: str = STOLEN) -> None:
    (root / "manifest.csv").write_text(manifest, encoding="utf-8")
    (root / "stolen.jsonl").write_text(stolen, encoding="utf-8")


def write_frames(folder: Path, numbers: Sequence[int], corrupt: Sequence[int] = ()) -> None:
    """PNG frames numbered in their top-left pixel, in name order; ``corrupt`` positions hold no image."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, number in enumerate(numbers):
        path = folder / f"frame-{i:03d}.png"
        if i in corrupt:
            path.write_bytes(b"\x89PNG\r\n\x1a\n truncated" if i % 2 else b"")
            continue
        image = np.full((24, 32, 3), 40, np.uint8)
        image[0, 0, 0] = number
        cv2.imwrite(str(path), image)


def profile(root: Path, lanes: Sequence[str] | None = None, window: int = 400, frames: int = 4, reload: float = 0,
            container: bool = False, require: str = '["plate"]') -> str:
    """A site of one cargo lane (``cargo-in-1``), its lists and models under ``root``."""
    lane = LANE.format(lane="cargo-in-1", dir=root, window=window, frames=frames, require=require)
    if container:
        lane += CONTAINER.format(dir=root, window=window, frames=frames)
    return SITE.format(models=model_folders(root), dir=root, reload=reload) + "".join(lanes or [lane])


@dataclass(frozen=True)
class FakeRead:
    """What ``gate_plate.reader.PlateReader`` returns per plate or code."""

    text: str
    kind: str = "plate"
    country: str = "VN"
    layout: str = "one_row"
    confidence: float = 0.95
    box: tuple[float, ...] = (4.0, 4.0, 28.0, 12.0)


@dataclass
class ScriptedReader:
    """Reads what ``script`` says for the frame numbered in its top-left pixel; raises for ``fail`` numbers."""

    script: Mapping[int, Sequence[FakeRead]]
    fail: frozenset[int] = frozenset()
    seen: list[int] = field(default_factory=list)
    seconds: float = 0.0  # how long a read takes (in the executor's thread)

    def read(self, frame: np.ndarray) -> list[FakeRead]:
        number = int(frame[0, 0, 0])
        self.seen.append(number)
        time.sleep(self.seconds)
        if number in self.fail:
            raise RuntimeError("the model failed on this frame")
        return list(self.script.get(number, ()))


@dataclass(eq=False)
class UseReader:
    """A test plugin: the site's plate sources read with ``reader`` (set after gate_plate's own setup)."""

    reader: ScriptedReader

    @hookimpl(trylast=True)
    def gatecore_site_setup(self, site: SiteView) -> None:
        site.stash[gate_plate.PLATES].open().reader = self.reader


async def arrive(site: object, rec: Recorder, lane_id: str = "cargo-in-1") -> object:
    """A vehicle on the entry loop of an idle lane; its decision, once the lane is idle again."""
    lane = site.lanes[lane_id]  # type: ignore[attr-defined]
    await wait_for(lambda: lane.state is LaneState.IDLE, timeout=10)
    n = len(rec.decisions)
    lane.devices["entry"].set(True)
    await wait_for(lambda: len(rec.decisions) > n, timeout=10)
    lane.devices["entry"].set(False)
    decision = rec.decisions[n]
    if decision.outcome.value == "pass":
        await wait_for(lambda: lane.state is LaneState.CLEARING, timeout=10)
        lane.devices["exit"].set(True)
        lane.devices["exit"].set(False)
    await wait_for(lambda: lane.state is LaneState.IDLE, timeout=10)
    return decision
