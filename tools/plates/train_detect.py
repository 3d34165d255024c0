"""Train the plate / container-code detector on generated scenes (CPU, one thread) and export it to ONNX.

    python -m tools.plates.train_detect --seed 1 --scenes 2400 --epochs 12 \\
        --out plugins/gate_plate/models/detect

Generates ``--scenes`` 1080p scenes (`tools.plates.scenes`, each from the seed pair (seed, index)), letterboxes
them into the model's input once (cached in ``--cache``), then trains on random crops with scale jitter.
Writes ``model.onnx``, ``config.json`` (what `gate_plate.detect` needs) and ``recipe.json`` (seed, data recipe,
epochs, the command, the SHA-256 of model.onnx) into ``--out``. Needs the ``train`` extra (torch).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from tools.plates import detect_net, scenes
from tools.plates.detect_net import KINDS, STRIDE, PlateDetector

Array = np.ndarray[Any, Any]
INPUT = (640, 384)  # model input (width, height); a 1080p frame is scaled by 1/3 into its top 640 x 360
CONFIG = {"input": {"width": INPUT[0], "height": INPUT[1], "layout": "NCHW", "colour": "BGR", "range": "0..255",
                    "letterbox": "scaled to fit, top-left, zero padding"},
          "stride": STRIDE, "kinds": list(KINDS), "mask_threshold": 0.5, "score_threshold": 0.5,
          "min_area": 6, "max_regions": 8,
          "notes": {"mask_threshold": "a cell belongs to a region when its probability is above this",
                    "score_threshold": "a region is kept when its cells' mean probability is above this",
                    "min_area": "smallest region kept, in mask cells"},
          "rectify": {"pad": {"wide": [0.15, 0.05], "tall": [0.0, 0.0]},
                      "note": "margins (left/right, top/bottom), fractions of the region's shorter side"},
          "reader": {"min_confidence": 0.2, "min_confidence_checked": 0.02,
                     "reread_below": {"plate": 0.5, "container": 0.7},
                     "note": "gate_plate.reader reads a region again, varied, when its read is no valid plate or code"
                             " of its kind or is below reread_below; then drops reads below min_confidence (clutter"
                             " and fragments read so), or min_confidence_checked for a container code whose check"
                             " digit is right"},
          "refine": {"text_height": 32, "max_zoom": 1.0, "max_window": 384,
                     "note": "each region is detected again in a window where its text is text_height px tall",
                     "min_kept": 0.8}}


def letterbox(frame: Array) -> tuple[Array, float]:
    h, w = frame.shape[:2]
    scale = min(INPUT[0] / w, INPUT[1] / h)
    canvas = np.zeros((INPUT[1], INPUT[0], 3), np.uint8)
    small = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    canvas[: small.shape[0], : small.shape[1]] = small
    return canvas, scale


CHUNK = 200  # scenes per cache file: a longer run reuses a shorter run's scenes


def _chunk(seed: int, strength: float, first: int, cache: Path) -> tuple[Array, list[Any]]:
    stem = cache / f"scenes_s{seed}_k{strength:g}_{first:06d}"
    if not stem.with_suffix(".json").exists():
        images = np.zeros((CHUNK, INPUT[1], INPUT[0], 3), np.uint8)
        labels = []
        started = time.process_time()
        for j in range(CHUNK):
            s = scenes.scene(np.random.default_rng([seed, first + j]), strength)
            images[j], scale = letterbox(s.image)
            labels.append([[KINDS.index(t.kind), (np.asarray(t.corners) * scale).tolist()] for t in s.targets])
        np.save(stem.with_suffix(".npy"), images)
        stem.with_suffix(".seconds").write_text(f"{time.process_time() - started:.1f}\n")
        stem.with_suffix(".json").write_text(json.dumps(labels))
    return np.load(stem.with_suffix(".npy"), mmap_mode="r"), json.loads(stem.with_suffix(".json").read_text())


Labels = list[list[tuple[int, Array]]]  # per scene: (kind index, corners (4, 2) in input pixels)


def build_pool(seed: int, count: int, strength: float, cache: Path) -> tuple[list[Array], Labels]:
    """The letterboxed scenes (H, W, 3) and their regions in input pixels; cached in chunks of ``CHUNK``."""
    cache.mkdir(parents=True, exist_ok=True)
    images: list[Array] = []
    labels: list[Any] = []
    t0 = time.perf_counter()
    for first in range(0, count, CHUNK):
        chunk_images, chunk_labels = _chunk(seed, strength, first, cache)
        images += list(chunk_images)
        labels += chunk_labels
        print(f"  scenes {len(labels)}/{count} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return images[:count], [[(k, np.asarray(c, np.float32)) for k, c in scene] for scene in labels[:count]]


def generation_seconds(seed: int, count: int, strength: float, cache: Path) -> float | None:
    """CPU seconds the pool's scenes took to make (in this run or the one that cached them); None if unknown."""
    files = [cache / f"scenes_s{seed}_k{strength:g}_{first:06d}.seconds" for first in range(0, count, CHUNK)]
    return sum(float(f.read_text()) for f in files) if all(f.exists() for f in files) else None


def sample(image: Array, regions: list[tuple[int, Array]], rng: np.random.Generator, crop: int,
           scales: tuple[float, float]) -> tuple[Array, list[tuple[int, Array]]]:
    """A crop x crop view of ``image`` at a random scale in ``scales`` (log-uniform: the whole frame's scale and
    the detector's closer second look), usually around one of its regions, with brightness/contrast jitter."""
    scale = float(np.exp(rng.uniform(np.log(scales[0]), np.log(scales[1]))))
    if regions and rng.random() < 0.8:
        centre = regions[int(rng.integers(len(regions)))][1].mean(axis=0) * scale + rng.uniform(-crop / 3, crop / 3, 2)
    else:
        centre = rng.uniform(0, 1, 2) * np.array([INPUT[0], INPUT[1]]) * scale
    shift = centre - crop / 2
    matrix = np.array([[scale, 0, -shift[0]], [0, scale, -shift[1]]], np.float32)
    out = cv2.warpAffine(image, matrix, (crop, crop), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    gain, bias = rng.uniform(0.8, 1.2), rng.uniform(-20, 20)
    out = cv2.convertScaleAbs(out, alpha=float(gain), beta=float(bias))
    moved = [(k, c * scale - shift.astype(np.float32)) for k, c in regions]
    return out, moved


def batch(images: list[Array], labels: Labels, index: Array, rng: np.random.Generator,
          args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    xs, masks = [], []
    for i in index:
        img, regs = sample(np.asarray(images[i]), labels[i], rng, args.crop, (args.scale_min, args.scale_max))
        xs.append(img.transpose(2, 0, 1))
        masks.append(detect_net.encode(regs, args.crop, args.crop))
    return torch.from_numpy(np.stack(xs).astype(np.float32)), torch.from_numpy(np.stack(masks))


def train(model: PlateDetector, images: list[Array], labels: Labels, args: argparse.Namespace) -> int:
    rng = np.random.default_rng(args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    per_epoch = math.ceil(len(labels) / args.batch)
    steps = per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.05)
    t0 = time.perf_counter()
    model.train()
    for epoch in range(args.epochs):
        order = rng.permutation(len(labels))
        total = 0.0
        for b in range(per_epoch):
            x, target = batch(images, labels, order[b * args.batch:(b + 1) * args.batch], rng, args)
            loss = detect_net.mask_loss(model(x), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / per_epoch:.4f} ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    return steps


def export(model: PlateDetector, path: Path) -> None:
    model.eval()
    model.sigmoid = True
    x = torch.zeros(1, 3, INPUT[1], INPUT[0])
    torch.onnx.export(model, (x,), str(path), input_names=["image"], output_names=["mask"], opset_version=17,
                      dynamo=False, dynamic_axes={"image": {2: "height", 3: "width"}, "mask": {2: "rows", 3: "cols"}})
    model.sigmoid = False


def code_version() -> str:
    """The git commit the generators and this script ran from ("+changes" if the tree differed from it)."""
    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], capture_output=True, text=True, check=False, timeout=30).stdout.strip()
    dirty = git("status", "--porcelain", "--", "tools/plates")
    return git("rev-parse", "HEAD") + ("+changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scenes", type=int, default=2400)
    ap.add_argument("--strength", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--scale-min", type=float, default=0.6)
    ap.add_argument("--scale-max", type=float, default=2.4)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gate_plate_detect_cache"))
    ap.add_argument("--out", type=Path, default=Path("plugins/gate_plate/models/detect"))
    ap.add_argument("--init", type=Path, default=None,
                    help="start from the weights (.pt) an earlier run left in the cache, fine-tuning them")
    ap.add_argument("--init-recipe", type=Path, default=None, help="the recipe.json of the run that wrote --init")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # the machine is shared: one core for training, OpenCV included
    cv2.setNumThreads(1)
    torch.manual_seed(args.seed)
    code = code_version()
    t0 = time.perf_counter()
    images, labels = build_pool(args.seed, args.scenes, args.strength, args.cache)
    t_data = time.perf_counter() - t0  # scenes made (or read from the cache) in this run
    model = PlateDetector(width=args.width)
    init = None
    if args.init is not None:
        model.load_state_dict(torch.load(args.init, weights_only=True))
        init = {"weights": args.init.name, "sha256": hashlib.sha256(args.init.read_bytes()).hexdigest(),
                "recipe": json.loads(args.init_recipe.read_text()) if args.init_recipe else None}
    steps = train(model, images, labels, args)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "model.onnx"
    export(model, onnx_path)
    stage = "_ft" if init else ""
    torch.save(model.state_dict(), args.cache / f"detect_s{args.seed}_e{args.epochs}{stage}.pt")  # not shipped
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    (args.out / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    recipe = {"seed": args.seed, "epochs": args.epochs, "steps": steps, "batch": args.batch, "lr": args.lr,
              "width": args.width, "parameters": detect_net.parameter_count(model),
              "data": {"generator": "tools.plates.scenes.scene", "scenes": args.scenes,
                       "scene_seeds": f"numpy default_rng([{args.seed}, i]) for i in 0..{args.scenes - 1}",
                       "strength": args.strength, "frame": list(scenes.SIZE), "input": list(INPUT),
                       "crop": args.crop, "scale_jitter": [args.scale_min, args.scale_max], "regions": list(KINDS)},
              "command": "python -m tools.plates.train_detect " + shlex.join(sys.argv[1:] if argv is None else argv),
              "code": code, "torch": torch.__version__, "threads": 1,
              "data_cpu_seconds": generation_seconds(args.seed, args.scenes, args.strength, args.cache),
              "data_seconds_this_run": round(t_data), "train_seconds": round(time.perf_counter() - t0 - t_data),
              **({"init": init} if init else {}), "model_sha256": digest}
    (args.out / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    print(json.dumps({"model": str(onnx_path), "bytes": onnx_path.stat().st_size, "model_sha256": digest}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
