"""Face pipeline cost per stage: frames per second on one core for detect + landmarks + align + embed.

Usage: python bench/face_pipeline.py [--frames 200] [--yunet M --sface M] [--scrfd M --arcface M]
                                     [--dlib-models DIR | --no-dlib] [--face-px 100 300]

Always runs the generated models of the opencv and insightface families (plugins/gate_face/testing.py:
tiny, so their figures show the pipeline's own overhead: resizing, blobs, decoding, NMS, alignment) on
generated frames, and the dlib family's real models (``gatecore face models install``; by default
converted once into .cache/face_models/) on frames with a real face in them: scikit-image's astronaut
photograph (public domain) placed at face sizes across --face-px, turned and lit differently
(gate_face.testing.photo_frame).  The dlib family runs as a lane runs it (the detector's pyramid levels
for --face-px) and, on a quarter of the frames, with every level (as dlib does).  Real models given by
path run too.  One thread (cv2, onnxruntime, numba), 640 x 480 frames.  Figures are the thread's CPU time
per frame and per stage (medians): on a shared machine the wall clock, given beside them, also counts the
time spent waiting for a core.
Writes its section of BENCHMARKS.md and prints a JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
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
from gate_face.engine import dlib_pipeline
from gate_face.pipeline import FacePipeline

Array = np.ndarray[Any, Any]
STAGES = ("detect", "landmarks", "align", "embed")
ROOT = Path(__file__).resolve().parents[1]


def frames(count: int) -> list[Array]:
    out = []
    for i in range(count):
        img = np.zeros((480, 640, 3), np.uint8)
        testing.draw_face(img, 5 + i % 4, 6 + i % 8, i % 10, jitter=3)
        out.append(img)
    return out


def face_frames(count: int, face_px: tuple[float, float]) -> list[Array]:
    """The astronaut at sizes spread over ``face_px``, moved, turned and lit differently."""
    from skimage import data

    photo = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    rng = np.random.default_rng(0)
    sizes = np.linspace(*face_px, count)
    return [testing.photo_frame(photo, (168, 69, 263, 164), float(size), angle=float(rng.uniform(-8, 8)),
                                shift=(int(rng.integers(-80, 81)), int(rng.integers(-30, 31))),
                                gain=float(rng.uniform(0.7, 1.2)), jpeg=80)
            for size in rng.permutation(sizes)]


class CpuClock:
    """The calling thread's CPU time in each stage of one frame: the pipeline's parts, wrapped."""

    def __init__(self, pipe: FacePipeline) -> None:
        self.frame: dict[str, float] = {}
        self._wrap(pipe.detector, "detect", "detect")
        if pipe.landmarker is not None:
            self._wrap(pipe.landmarker, "predict", "landmarks")
        self._wrap(pipe.geometry, "crop", "align")
        self._wrap(pipe.geometry, "quality", "align")
        self._wrap(pipe.embedder, "embed", "embed")

    def _wrap(self, obj: Any, method: str, stage: str) -> None:
        inner = getattr(obj, method)

        def timed(*args: Any, **kw: Any) -> Any:
            c = time.thread_time()
            try:
                return inner(*args, **kw)
            finally:
                self.frame[stage] = self.frame.get(stage, 0.0) + (time.thread_time() - c) * 1e3

        setattr(obj, method, timed)


def run(name: str, pipe: FacePipeline, images: list[Array]) -> dict[str, Any]:
    pipe.process(images[0])
    clock = CpuClock(pipe)
    stages: dict[str, list[float]] = {k: [] for k in STAGES}
    total, cpu, ok = [], [], 0
    for img in images:
        clock.frame = {}
        t, c = time.perf_counter(), time.thread_time()
        res = pipe.process(img)
        cpu.append((time.thread_time() - c) * 1e3)
        total.append((time.perf_counter() - t) * 1e3)
        ok += res.status == "ok"
        for k, v in clock.frame.items():
            stages[k].append(v)
    row = {"pipeline": name, "fps_per_core": 1e3 / statistics.median(cpu), "cpu_ms": statistics.median(cpu),
           "wall_ms": statistics.median(total), "ok": ok / len(images), "frames": len(images),
           **{f"{k}_ms": statistics.median(v) if v else None for k, v in stages.items()}}
    print(f"  {name:<44} {row['fps_per_core']:7.1f} fps/core  " + "  ".join(
        f"{k} {_ms(row[f'{k}_ms'])}" for k in STAGES) + f"  cpu {row['cpu_ms']:.2f}  wall {row['wall_ms']:.2f} ms"
          f"  ok {row['ok']:.0%}", flush=True)
    return row


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def dlib_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    models = args.dlib_models
    if models is None:
        from face_models.cache import cached_install

        models = cached_install(ROOT / ".cache" / "face_models")
    files = {role: models / m["file"]
             for role, m in json.loads((models / "models.json").read_text())["models"].items()}
    images = face_frames(args.frames, tuple(args.face_px))
    lo, hi = args.face_px
    lane = dlib_pipeline(files["detector"], files["embedder"], files["landmarks"], face_px=(lo, hi))
    levels = lane.detector.levels  # type: ignore[attr-defined]
    rows = [run(f"dlib, faces {lo:g}-{hi:g} px (levels {','.join(map(str, levels))})", lane, images)]
    every = dlib_pipeline(files["detector"], files["embedder"], files["landmarks"], face_px=None)
    rows.append(run("dlib, every pyramid level (as dlib)", every, images[:max(1, len(images) // 4)]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200)
    for m in ("yunet", "sface", "scrfd", "arcface"):
        ap.add_argument(f"--{m}", type=Path)
    ap.add_argument("--dlib-models", type=Path, help="a directory gatecore face models install wrote")
    ap.add_argument("--no-dlib", action="store_true")
    ap.add_argument("--face-px", type=float, nargs=2, default=(100.0, 300.0), metavar=("MIN", "MAX"))
    args = ap.parse_args()
    cv2.setNumThreads(1)
    load_before = os.getloadavg()[0]
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
    if not args.no_dlib:
        rows += dlib_rows(args)
    load = f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} cores"
    lines = ["## Face pipeline (gate_face)", "", f"Command: `python {' '.join(sys.argv)}`  ",
             f"One thread, 640 x 480 frames; medians over the frames of the thread's CPU time (ms), per stage and "
             f"per frame (`total`); `wall` is the wall clock per frame, which on a shared machine also counts "
             f"waiting for a core ({load}). The generated models run on generated frames; the dlib family's real "
             f"models on frames of a real face (scikit-image's astronaut, faces {args.face_px[0]:g}-"
             f"{args.face_px[1]:g} px wide).", "",
             "| pipeline | fps/core | detect | landmarks | align | embed | total | wall | frames | ok |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['pipeline']} | {r['fps_per_core']:.1f} | " + " | ".join(_ms(r[f"{k}_ms"]) for k in STAGES)
              + f" | {r['cpu_ms']:.2f} | {r['wall_ms']:.2f} | {r['frames']} | {r['ok']:.0%} |" for r in rows]
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    head, sep, rest = text.partition(lines[0])
    tail = rest[rest.find("\n## ") + 1:] if sep and "\n## " in rest else ""
    path.write_text(head.rstrip() + "\n\n" + "\n".join(lines) + "\n" + ("\n" + tail if tail else ""))
    print(json.dumps({"bench": "face_pipeline", "rows": rows}))


if __name__ == "__main__":
    main()
