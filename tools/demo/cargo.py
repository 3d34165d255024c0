"""The cargo lanes' line of trucks: what each shows the cameras, its partner manifest, and the truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .trucks import TruckLook, front_frame, look, rear_frame, views

#: the share of each manifest case; the rest have a manifest that matches
CASES = {"no_manifest": 0.05, "container_mismatch": 0.05, "expired": 0.04, "flagged": 0.04}
TRUTH = {"ok": (["pass"], "manifest matches"), "no_manifest": (["refer"], "no manifest lodged"),
         "container_mismatch": (["refer"], "manifest names other containers"),
         "expired": (["refer"], "manifest expired"), "flagged": (["deny"], "consignment flagged by the partner")}
CN_SHARE = 0.6  # of the trucks, Chinese (the rest Vietnamese)
FRONT_VIEWS, REAR_VIEWS = 3, 4  # frames of each truck per camera, as it rolls up
EVAL = Path(__file__).resolve().parents[2] / "plugins" / "gate_plate" / "models" / "recog" / "eval.json"
JPEG = [cv2.IMWRITE_JPEG_QUALITY, 90]
WEAK = 0.95  # a group read exactly less often than this is named in a disagreement's note


def shipped_accuracy() -> dict[str, float]:
    """Exact-read accuracy per group of the shipped recogniser, from its held-out evaluation."""
    try:
        groups = json.loads(EVAL.read_text())["groups"]
        return {g: float(v["exact"]) for g, v in groups.items()}
    except (OSError, ValueError, KeyError):
        return {}


def note(truck: TruckLook, accuracy: dict[str, float]) -> str:
    """The groups of this truck read at the lane that the shipped recogniser reads exactly under 95 % of the
    time on its held-out crops (a whole frame, detected first, is read less often still)."""
    weak = [f"{g} {accuracy[g] * 100:.0f} %" for g in truck.groups if accuracy.get(g, 1.0) < WEAK]
    return f"shipped recogniser on held-out crops: {', '.join(weak)}" if weak else ""


def _case(rng: np.random.Generator) -> str:
    r, acc = float(rng.random()), 0.0
    for case, share in CASES.items():
        acc += share
        if r < acc:
            return case
    return "ok"


def trucks(out: Path, seed: int, lanes: list[str], per_lane: int) -> tuple[dict[str, list[dict[str, Any]]],
                                                                          list[dict[str, Any]]]:
    """Each cargo lane's line (world records) and the fleet file's trucks; writes the frames."""
    folder = out / "frames" / "truck"
    folder.mkdir(parents=True, exist_ok=True)
    accuracy = shipped_accuracy()
    lines: dict[str, list[dict[str, Any]]] = {}
    fleet = []
    for i, lane in enumerate(lanes):
        lines[lane] = []
        for k in range(per_lane):
            rng = np.random.default_rng([seed, 7, i, k])
            truck = look(rng, "CN" if rng.random() < CN_SHARE else "VN")
            case = _case(rng)
            ident = f"DX-{seed}-{i}{k:04d}"
            frames: dict[str, list[str]] = {"front": [], "rear": []}
            for kind, frame, n in (("front", front_frame(truck, rng), FRONT_VIEWS),
                                   ("rear", rear_frame(truck, rng), REAR_VIEWS)):
                for v, view in enumerate(views(frame, rng, n)):
                    name = f"frames/truck/{ident}-{kind}-{v}.jpg"
                    cv2.imwrite(str(out / name), view, JPEG)
                    frames[kind].append(name)
            expect, why = TRUTH[case]
            lines[lane].append({"id": ident, "expect": expect, "why": why, "frames": frames,
                                "note": note(truck, accuracy)})
            fleet.append({"consignment": ident, "plates": [truck.plate], "codes": [truck.code.text], "case": case})
    return lines, fleet
