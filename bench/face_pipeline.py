"""Face pipeline cost per stage: frames per second on one core for detect + align + embed.

Usage: python bench/face_pipeline.py [--frames 200] [--yunet M --sface M] [--scrfd M --arcface M]

Always runs the generated models of both families (plugins/gate_face/testing.py: tiny, so
their figures show the pipeline's own overhead: resizing, blobs, decoding, NMS, alignment);
real models given by path run too.  One thread (cv2 and onnxruntime), 640 x 480 frames.
Writes its section of BENCHMARKS.md and prints a JSON line last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gate_face import testing
from gate_face.detectors import ScrfdDetector, YuNetDetector
from gate_face.embedders import ArcFaceEmbedder, SFaceEmbedder
from gate_face.pipeline import FacePipeline


def frames(count: int) -> list[np.ndarray[Any, Any]]:
    out = []
    for i in range(count):
        img = np.zeros((480, 640, 3), np.uint8)
        testing.draw_face(img, 5 + i % 4, 6 + i % 8, i % 10, jitter=3)
        out.append(img)
    return out


def run(name: str, pipe: FacePipeline, images: list[np.ndarray[Any, Any]]) -> dict[str, Any]:
    pipe.process(images[0])
    stages: dict[str, list[float]] = {"detect": [], "align": [], "embed": []}
    total, ok = [], 0
    for img in images:
        t = time.perf_counter()
        res = pipe.process(img)
        total.append((time.perf_counter() - t) * 1e3)
        ok += res.status == "ok"
        for k, v in res.timings_ms.items():
            stages[k].append(v)
    row = {"pipeline": name, "fps_per_core": 1e3 / statistics.median(total),
           "total_ms": statistics.median(total), "ok": ok / len(images),
           **{f"{k}_ms": statistics.median(v) if v else None for k, v in stages.items()}}
    print(f"  {name:<34} {row['fps_per_core']:7.1f} fps/core  detect {row['detect_ms']:.2f}  "
          f"align {row['align_ms']:.2f}  embed {row['embed_ms']:.2f} ms  ok {row['ok']:.0%}", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200)
    for m in ("yunet", "sface", "scrfd", "arcface"):
        ap.add_argument(f"--{m}", type=Path)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    images = frames(args.frames)
    d = Path(tempfile.mkdtemp())
    gen = {"yunet": testing.make_yunet_like(d / "y.onnx", 640),
           "sface": testing.make_embedder(d / "s.onnx", dim=128, input_name="data", output_name="fc1"),
           "scrfd": testing.make_scrfd_like(d / "r.onnx", 640),
           "arcface": testing.make_embedder(d / "a.onnx")}
    runs = [("generated YuNet + SFace", gen["yunet"], gen["sface"], "opencv"),
            ("generated SCRFD + ArcFace", gen["scrfd"], gen["arcface"], "insightface")]
    if args.yunet and args.sface:
        runs.append(("YuNet + SFace", args.yunet, args.sface, "opencv"))
    if args.scrfd and args.arcface:
        runs.append(("SCRFD + ArcFace", args.scrfd, args.arcface, "insightface"))
    rows = []
    for name, det, emb, family in runs:
        if family == "opencv":
            pipe = FacePipeline(YuNetDetector(det), SFaceEmbedder(emb))
        else:
            pipe = FacePipeline(ScrfdDetector(det), ArcFaceEmbedder(emb))
        rows.append(run(name, pipe, images))
    lines = ["## Face pipeline (gate_face)", "", f"Command: `python {' '.join(sys.argv)}`  ",
             "One thread, 640 x 480 frames; medians over the frames (ms).", "",
             "| pipeline | fps/core | detect | align | embed | total | frames ok |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['pipeline']} | {r['fps_per_core']:.1f} | {r['detect_ms']:.2f} | "
              f"{r['align_ms']:.2f} | {r['embed_ms']:.2f} | {r['total_ms']:.2f} | {r['ok']:.0%} |"
              for r in rows]
    path = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    head, sep, rest = text.partition(lines[0])
    tail = rest[rest.find("\n## ") + 1:] if sep and "\n## " in rest else ""
    path.write_text(head.rstrip() + "\n\n" + "\n".join(lines) + "\n" + ("\n" + tail if tail else ""))
    print(json.dumps({"bench": "face_pipeline", "rows": rows}))


if __name__ == "__main__":
    main()
