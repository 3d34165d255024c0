"""Build the demo's assets from a profile's seed: trust list, demo face models and galleries, frames, world."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import cv2

from gatecore.profile_read import read_profile

from . import faces
from .cargo import EVAL, trucks
from .passes import Passes, pass_frame
from .passes import write as write_trust
from .world import Traveller, people

SCHEMA = "gate_sim.world/1"
FLEET = "gate_link.fleet/1"
#: the builder's sources and the plate renderers it draws trucks with: a change to any of them builds again
SOURCES = sorted([*Path(__file__).parent.glob("*.py"), *(Path(__file__).parents[1] / "plates").glob("*.py")])
#: the lane cameras' frames are JPEG, as a camera's would be
JPEG = [cv2.IMWRITE_JPEG_QUALITY, 90]
PER_LANE = 150  # travellers in each e-gate's line (the line starts again from its front when they are through)
TRUCKS_PER_LANE = 12  # trucks in each cargo lane's line (likewise)


def passenger_lanes(raw: dict[str, Any]) -> dict[str, bool]:
    """Lanes whose cameras show faces (``sim.camera`` with ``shows = "face"``) -> whether a traveller
    steps up without scanning (the lane's trigger is not a reader)."""
    out = {}
    for lane in raw.get("lanes", []):
        devices = {d.get("role"): d for d in lane.get("devices", [])}
        if any(d.get("kind") == "sim.camera" and d.get("shows") == "face" for d in devices.values()):
            trigger = devices.get(lane.get("trigger", "entry"), {})
            out[lane["id"]] = trigger.get("kind") != "sim.reader"
    return out


def cargo_lanes(raw: dict[str, Any]) -> list[str]:
    """Lanes whose cameras show trucks (``sim.camera`` with ``shows = "front"`` or ``"rear"``)."""
    return [lane["id"] for lane in raw.get("lanes", [])
            if any(d.get("kind") == "sim.camera" and d.get("shows") in ("front", "rear")
                   for d in lane.get("devices", []))]


def recipe(seed: int, lanes: dict[str, bool], cargo: list[str]) -> str:
    # the recogniser's held-out figures name each truck's weak groups in the world: a new model, a new world
    figures = hashlib.sha256(EVAL.read_bytes()).hexdigest() if EVAL.exists() else ""
    code = hashlib.sha256(b"".join(p.read_bytes() for p in SOURCES)).hexdigest()
    what = [code, seed, PER_LANE, TRUCKS_PER_LANE, lanes, cargo, figures]
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def build(profile: Path, out: Path, force: bool = False) -> bool:
    """Write the assets into ``out`` unless they are there for this profile's seed and lanes already.
    True if built."""
    raw, _ = read_profile(profile)
    seed = int(raw.get("plugins", {}).get("gate_sim", {}).get("seed", 1))
    lanes, cargo = passenger_lanes(raw), cargo_lanes(raw)
    key = recipe(seed, lanes, cargo)
    index = out / "world.json"
    if not force and _up_to_date(index, key):
        return False
    out.mkdir(parents=True, exist_ok=True)
    passes = Passes.for_seed(seed)
    write_trust(out, passes)
    detector, embedder = faces.write_models(out)
    lines = people(seed, lanes, PER_LANE)
    everyone = [t for line in lines.values() for t in line]
    _passes_and_frames(out, passes, everyone)
    faces.write_galleries(out, detector, embedder, {
        "travellers": [(t.id, t.face_id) for t in everyone if t.face != "not_enrolled"],
        "watchlist": [(t.id, t.face_id) for t in everyone if t.face == "watchlisted"],
    })
    truck_lines, fleet = trucks(out, seed, cargo, TRUCKS_PER_LANE)
    (out / "fleet.json").write_text(json.dumps({"schema": FLEET, "trucks": fleet}, indent=1, ensure_ascii=False))
    world = {"schema": SCHEMA, "seed": seed, "recipe": key,
             "lanes": {**{lane: [t.record() for t in line] for lane, line in lines.items()}, **truck_lines}}
    index.write_text(json.dumps(world, indent=1, ensure_ascii=False))
    return True


def _passes_and_frames(out: Path, passes: Passes, everyone: list[Traveller]) -> None:
    (out / "frames" / "pass").mkdir(parents=True, exist_ok=True)
    (out / "frames" / "face").mkdir(parents=True, exist_ok=True)
    by_id = {t.id: t for t in everyone}
    for n, t in enumerate(everyone):
        if t.pass_kind in ("valid", "expired", "forged"):
            t.pass_text = passes.issue(t.id, t.pass_kind, n)
            t.frames["pass"] = f"frames/pass/{t.id}.jpg"
            cv2.imwrite(str(out / t.frames["pass"]), pass_frame(t.pass_text, t.face_id), JPEG)
        t.frames["face"] = f"frames/face/{t.id}.jpg"
        cv2.imwrite(str(out / t.frames["face"]), faces.face_frame(t.face_id, jitter=3), JPEG)
    for t in everyone:
        if t.pass_kind == "replayed" and t.pass_of is not None:
            original = by_id[t.pass_of]
            t.pass_text, t.frames["pass"] = original.pass_text, original.frames["pass"]


def _up_to_date(index: Path, key: str) -> bool:
    try:
        world = json.loads(index.read_text())
    except (OSError, ValueError):
        return False
    if world.get("recipe") != key:
        return False
    root = index.parent
    needed = ["trust-list.json", "fleet.json", "models/demo-detector.onnx", "models/demo-embedder.onnx",
              "galleries/travellers.gcidx", "galleries/watchlist.gcidx"]
    frames = [f for line in world["lanes"].values() for t in line for v in t["frames"].values()
              for f in ([v] if isinstance(v, str) else v)]
    return all((root / f).is_file() for f in needed + frames)
