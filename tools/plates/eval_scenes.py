"""Evaluate the detector (and the whole reader: detect -> rectify -> recognise) on held-out generated scenes.

    python -m tools.plates.eval_scenes --seed 2 --scenes 500 [--detect DIR] [--recog DIR] [--out eval.json]

The scenes come from ``tools.plates.scenes`` with scene seeds (seed, i), another seed than training's, over the
full range of degradations (strength 1). A target is *detected* when a region of its kind overlaps it with an
IoU of at least 0.5; it is *read* when the reader reports its exact (normalised) text for a region so placed; a
scene is *read* when every target in it is read and nothing else is reported. ``scenes_read`` of a group is the
share of its targets' scenes that it did not fail. Prints the figures per country and layout and the
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
    """Counts over scenes: detection (regions against targets) and, when reads are given, reading."""

    def __init__(self) -> None:
        self.groups: dict[str, Counter[str]] = defaultdict(Counter)
        self.degradations: dict[str, Counter[str]] = defaultdict(Counter)
        self.confusions: Counter[str] = Counter()
        self.errors: list[float] = []
        self.scenes = Counter[str]()
        self.ms: list[float] = []
        self.examples: list[dict[str, Any]] = []

    def scene(self, s: scenes.Scene, regions: list[Any], reads: list[Any] | None = None, ms: float = 0.0) -> None:
        found = match(s.targets, regions)
        for ti, t in enumerate(s.targets):
            self.groups[t.group]["targets"] += 1
            if ti in found:
                self.groups[t.group]["detected"] += 1
                self.errors.append(corner_error(t, regions[found[ti]]))
        self.scenes["scenes"] += 1
        self.scenes["false_regions"] += len(regions) - len(found)
        self.scenes["detected"] += len(found) == len(s.targets) == len(regions)
        self.ms.append(ms)
        if reads is not None:
            self._reads(s, found, reads)

    def _reads(self, s: scenes.Scene, found: dict[int, int], reads: list[Any]) -> None:
        matched = match(s.targets, reads)
        ok = len(matched) == len(reads)  # nothing reported that is not there
        for ti, t in enumerate(s.targets):
            g = self.groups[t.group]
            g["scenes"] += 1
            read = reads[matched[ti]].text if ti in matched else None
            if read == t.sample.text:
                g["read"] += 1
                continue
            ok = False
            g["scenes_failed"] += 1
            if read is None:
                self.confusions["not detected" if ti not in found else "no read"] += 1
            else:
                self.confusions.update(confusions(t.sample.text, read))
                if len(self.examples) < 30:
                    self.examples.append({"truth": t.sample.text, "read": read, "group": t.group})
        self.scenes["read"] += ok
        self.scenes["false_reads"] += len(reads) - len(matched)
        for d in s.degradations or ("none",):
            self.degradations[d]["scenes"] += 1
            self.degradations[d]["ok"] += ok

    def summary(self) -> dict[str, Any]:
        n, reading = self.scenes["scenes"], bool(self.degradations)
        targets = sum(g["targets"] for g in self.groups.values())
        out: dict[str, Any] = {
            "scenes": n, "targets": targets,
            "detection_recall": sum(g["detected"] for g in self.groups.values()) / max(targets, 1),
            "false_regions_per_scene": self.scenes["false_regions"] / max(n, 1),
            "scenes_detected_exactly": self.scenes["detected"] / max(n, 1),
            "corner_error_median": float(np.median(self.errors)) if self.errors else None,
            "corner_error_p95": float(np.percentile(self.errors, 95)) if self.errors else None,
            "ms_per_scene_median": float(np.median(self.ms)) if self.ms else None,
            "groups": {k: {"targets": g["targets"], "detection_recall": g["detected"] / g["targets"],
                           **({"read": g["read"] / g["targets"],
                               "scenes_read": 1 - g["scenes_failed"] / max(g["scenes"], 1)} if reading else {})}
                       for k, g in sorted(self.groups.items())}}
        if reading:
            out.update({"scene_accuracy": self.scenes["read"] / max(n, 1),
                        "read_accuracy": sum(g["read"] for g in self.groups.values()) / max(targets, 1),
                        "false_reads_per_scene": self.scenes["false_reads"] / max(n, 1),
                        "by_scene_degradation": {k: v["ok"] / v["scenes"]
                                                 for k, v in sorted(self.degradations.items())},
                        "confusions": self.confusions.most_common(15), "misreads": self.examples})
        return out


def evaluate(detector: Detector, reader: PlateReader | None, seed: int, count: int, strength: float
             ) -> dict[str, Any]:
    """Detection (and, with a reader, reading) figures over ``count`` scenes of seed ``seed``; the time is the
    reader's (detect + rectify + recognise), or the detector's alone."""
    tally = Tally()
    for i in range(count):
        s = scenes.scene(np.random.default_rng([seed, i]), strength)
        t0 = time.perf_counter()
        reads = reader.read(s.image) if reader is not None else None
        ms = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        regions = detector.detect(s.image)
        tally.scene(s, regions, reads, ms if reader is not None else (time.perf_counter() - t0) * 1e3)
    return tally.summary()


def _reader(detector: Detector, recog: Path | None) -> PlateReader | None:
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
