"""Evaluate the detector (and the whole reader: detect -> rectify -> recognise) on held-out generated scenes.

    python -m tools.plates.eval_scenes --seed 2 --scenes 500 [--detect DIR] [--recog DIR] [--out eval.json]

The scenes come from ``tools.plates.scenes`` with scene seeds (seed, i), another seed than training's, over the
full range of degradations (strength 1). A target is *detected* when a region of its kind overlaps it with an
IoU of at least 0.5; it is *read* when the read of that region is its exact (normalised) text; a scene is *read*
when every target in it is read and nothing else is reported. Prints the figures per country and layout and the
most frequent confusions, and writes them to ``--out`` (default: ``eval.json`` beside the detector model).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gate_plate.detect import Detector, Region
from gate_plate.reader import PlateReader
from gate_plate.recognise import Recogniser
from tools.plates import scenes
from tools.plates.eval import confusions

Array = np.ndarray[Any, Any]
IOU = 0.5


def iou(a: Array, b: Array) -> float:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    inter, _ = cv2.intersectConvexConvex(a, b)
    union = cv2.contourArea(a) + cv2.contourArea(b) - inter
    return float(inter / union) if union > 0 else 0.0


def match(targets: tuple[scenes.Target, ...], regions: list[Any]) -> dict[int, int]:
    """target index -> region index, greedily by IoU (at least ``IOU``, same kind)."""
    pairs = sorted(((iou(t.corners, r.corners), ti, ri) for ti, t in enumerate(targets)
                    for ri, r in enumerate(regions) if r.kind == t.kind), reverse=True)
    out: dict[int, int] = {}
    for score, ti, ri in pairs:
        if score >= IOU and ti not in out and ri not in out.values():
            out[ti] = ri
    return out


def corner_error(target: scenes.Target, region: Region | Any) -> float:
    """The largest corner distance, as a fraction of the target's text height (its shorter side)."""
    t, r = np.asarray(target.corners), np.asarray(region.corners)
    short = min(np.linalg.norm(t[1] - t[0]), np.linalg.norm(t[3] - t[0]))
    return float(np.linalg.norm(t - r, axis=1).max() / max(short, 1.0))


class Tally:
    def __init__(self) -> None:
        self.groups: dict[str, Counter[str]] = defaultdict(Counter)
        self.degradations: dict[str, Counter[str]] = defaultdict(Counter)
        self.confusions: Counter[str] = Counter()
        self.errors: list[float] = []
        self.scenes = Counter[str]()
        self.ms: list[float] = []
        self.examples: list[dict[str, Any]] = []

    def scene(self, s: scenes.Scene, found: list[Any], ms: float, reading: bool) -> None:
        matched = match(s.targets, found)
        ok = len(matched) == len(s.targets) == len(found)
        for ti, t in enumerate(s.targets):
            g = self.groups[t.group]
            g["targets"] += 1
            if ti not in matched:
                self.confusions["missed"] += 1
                ok = False
                continue
            g["detected"] += 1
            region = found[matched[ti]]
            self.errors.append(corner_error(t, region))
            if reading:
                if region.text == t.sample.text:
                    g["read"] += 1
                else:
                    ok = False
                    self.confusions.update(confusions(t.sample.text, region.text))
                    if len(self.examples) < 30:
                        self.examples.append({"truth": t.sample.text, "read": region.text, "group": t.group})
        self.scenes["scenes"] += 1
        self.scenes["false_regions"] += len(found) - len(matched)
        self.scenes["read" if reading else "detected"] += ok
        for d in s.degradations or ("none",):
            self.degradations[d]["scenes"] += 1
            self.degradations[d]["ok"] += ok
        self.ms.append(ms)

    def summary(self, reading: bool) -> dict[str, Any]:
        n = self.scenes["scenes"]
        targets = sum(g["targets"] for g in self.groups.values())
        out: dict[str, Any] = {
            "scenes": n, "targets": targets,
            "detection_recall": sum(g["detected"] for g in self.groups.values()) / max(targets, 1),
            "false_regions_per_scene": self.scenes["false_regions"] / max(n, 1),
            "corner_error_median": float(np.median(self.errors)) if self.errors else None,
            "corner_error_p95": float(np.percentile(self.errors, 95)) if self.errors else None,
            "ms_per_scene_median": float(np.median(self.ms)) if self.ms else None,
            "groups": {k: {"targets": g["targets"], "detection_recall": g["detected"] / g["targets"],
                           **({"read": g["read"] / g["targets"]} if reading else {})}
                       for k, g in sorted(self.groups.items())},
            "by_scene_degradation": {k: v["ok"] / v["scenes"] for k, v in sorted(self.degradations.items())},
            "confusions": self.confusions.most_common(15)}
        key = "scene_accuracy" if reading else "scene_detection"
        out[key] = self.scenes["read" if reading else "detected"] / max(n, 1)
        if reading:
            out["read_accuracy"] = sum(g["read"] for g in self.groups.values()) / max(targets, 1)
            out["misreads"] = self.examples
        return out


def evaluate(detector: Detector, reader: Any, seed: int, count: int, strength: float) -> dict[str, Any]:
    tally = Tally()
    for i in range(count):
        s = scenes.scene(np.random.default_rng([seed, i]), strength)
        t0 = time.perf_counter()
        found = reader.read(s.image) if reader is not None else detector.detect(s.image)
        tally.scene(s, found, (time.perf_counter() - t0) * 1e3, reader is not None)
    return tally.summary(reader is not None)


def _reader(detector: Detector, recog: Path | None) -> Any:
    try:
        return PlateReader(detector, Recogniser(recog, threads=1))
    except FileNotFoundError as exc:
        print(f"no recogniser ({exc}): detection only", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--scenes", type=int, default=500)
    ap.add_argument("--strength", type=float, default=1.0)
    ap.add_argument("--detect", type=Path, default=None, help="detector folder (default: the shipped one)")
    ap.add_argument("--recog", type=Path, default=None, help="recogniser folder (default: the shipped one)")
    ap.add_argument("--detect-only", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    detector = Detector(args.detect, threads=1)
    reader = None if args.detect_only else _reader(detector, args.recog)
    result = evaluate(detector, reader, args.seed, args.scenes, args.strength)
    result = {"seed": args.seed, "strength": args.strength,
              "command": "python -m tools.plates.eval_scenes " + shlex.join(sys.argv[1:] if argv is None else argv),
              "detector_sha256": hashlib.sha256((detector.folder / "model.onnx").read_bytes()).hexdigest(),
              **result}
    print(json.dumps({k: v for k, v in result.items() if k != "misreads"}, indent=1, ensure_ascii=False))
    out = args.out or detector.folder / "eval.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
