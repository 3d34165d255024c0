"""Train the province head (`gate_plate.province`): the first character of a Chinese plate, classified from a
cut of its crop at the crop's own resolution; export it to ONNX with its config and recipe.

    .venv/bin/python -m tools.plates.train_province                # the shipped head (about 20 minutes)
    .venv/bin/python -m tools.plates.train_province --shards 2 --epochs 1 --out /tmp/province   # a quick look

Data: shards of 2000 degraded Chinese crops (`tools.plates.crops.make_crop`, one and two rows half each) from
``--seed``, cut as the config says and cached under ``--cache``; validation on ``--val`` crops from
``--seed + 1``. One thread (``torch.set_num_threads(1)``), everything seeded. The recogniser's config.json in
the parent folder of ``--out`` gets a ``province`` entry naming the head's folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gate_plate.province import cut
from gate_plate.recognise import DEFAULT_FOLDER, grey_of, standardise
from tools.plates.crops import make_crop
from tools.plates.degrade import PIPELINE
from tools.plates.texts import CN_PROVINCES, GROUPS

CLASSES = CN_PROVINCES + "使"  # what a Chinese plate's first character can be (使: an embassy's plate)
HEIGHT, WIDTH = 48, 80
# where the layout puts the first character, as fractions (x0, y0, x1, y1) of a detector-like crop: the left
# part of a one-row plate; the left part of a two-row plate's top row (margins and corner errors included)
CUTS = {"one_row": [0.0, 0.0, 0.3, 1.0], "two_row": [0.0, 0.0, 0.6, 0.55]}
LAYOUTS = ("one_row", "two_row")
SHARD = 2000


def make(seed: int, shard: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` head inputs (uint8) of Chinese crops from the generator ``(seed, shard)`` and their classes."""
    rng = np.random.default_rng([seed, shard, 99])
    views, labels = np.empty((n, HEIGHT, WIDTH), np.uint8), np.empty(n, np.int64)
    for i in range(n):
        layout = LAYOUTS[i % 2]
        sample = GROUPS[f"CN/{layout}"](rng)
        views[i] = cut(grey_of(make_crop(sample, rng)), CUTS[layout], HEIGHT, WIDTH)
        labels[i] = CLASSES.index(sample.text[0])
    return views, labels


def cached(folder: Path, seed: int, shards: range) -> tuple[np.ndarray, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    views, labels = [], []
    for shard in shards:
        path = folder / f"province_s{seed}_{shard:03d}_{HEIGHT}x{WIDTH}.npz"
        if not path.exists():
            v, lab = make(seed, shard, SHARD)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, views=v, labels=lab)
            tmp.rename(path)
        with np.load(path) as z:
            views.append(z["views"])
            labels.append(z["labels"])
    return np.concatenate(views), np.concatenate(labels)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Head(nn.Module):
    """Input ``(N, 1, 48, 80)`` standardised grey; output ``(N, classes)`` logits. The first layer keeps the
    full resolution; average and max pooling of the last map feed the classifier."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _conv(1, 16), _conv(16, 32, 2), _conv(32, 32), _conv(32, 64, 2), _conv(64, 64), _conv(64, 128, 2),
            _conv(128, 128),
        )
        self.drop = nn.Dropout(0.2)
        self.out = nn.Linear(256, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        logits: torch.Tensor = self.out(self.drop(pooled))
        return logits


def accuracy(model: Head, views: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Right first characters, per layout (the views alternate one row, two rows) and overall."""
    model.eval()
    with torch.no_grad():
        pred = np.concatenate([model(torch.from_numpy(standardise(views[i: i + 500])[:, None])).argmax(1).numpy()
                               for i in range(0, len(views), 500)])
    model.train()
    right = pred == labels
    return {"CN/one_row": float(right[0::2].mean()), "CN/two_row": float(right[1::2].mean()),
            "all": float(right.mean())}


def train(args: argparse.Namespace) -> tuple[Head, dict[str, float], float]:
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    t0 = time.monotonic()
    views, labels = cached(args.cache, args.seed, range(args.shards))
    val_views, val_labels = make(args.seed + 1, 0, args.val)
    print(f"data: {len(labels)} views in {time.monotonic() - t0:.0f} s", flush=True)
    model = Head(len(CLASSES))
    steps = args.epochs * (len(labels) // args.batch)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    order_rng = np.random.default_rng(args.seed)
    step = 0
    for epoch in range(args.epochs):
        order = order_rng.permutation(len(labels))
        for i in range(0, len(order) - args.batch + 1, args.batch):
            idx = order[i: i + args.batch]
            loss = loss_fn(model(torch.from_numpy(standardise(views[idx])[:, None])), torch.from_numpy(labels[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 200 == 0:
                print(f"epoch {epoch} step {step}/{steps} loss {loss.item():.3f} {time.monotonic() - t0:.0f} s",
                      flush=True)
        scores = accuracy(model, val_views, val_labels)
        print(f"epoch {epoch} val " + " ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)
    return model, scores, time.monotonic() - t0


def export(model: Head, out: Path) -> None:
    """``model.onnx`` in ``out`` (batch size free), checked against torch on a random input."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    x = torch.randn(2, 1, HEIGHT, WIDTH)
    torch.onnx.export(model, (x,), str(out / "model.onnx"), input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False)
    got = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"image": x.numpy()})[0]
    with torch.no_grad():
        if not np.allclose(got, model(x).numpy(), atol=1e-3):
            raise RuntimeError("the exported head disagrees with torch")


def write_files(out: Path, args: argparse.Namespace, argv: list[str], scores: dict[str, float],
                seconds: float) -> None:
    config = {"input": {"height": HEIGHT, "width": WIDTH, "channels": 1, "colour": "grey",
                        "normalise": "per image: (x/255 - mean) / max(std, 0.02)"},
              "cuts": CUTS, "cuts_note": "(x0, y0, x1, y1) fractions of the grey crop, per layout",
              "classes": CLASSES, "output": "logits over classes"}
    (out / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    recipe = {
        "command": "python -m tools.plates.train_province " + shlex.join(argv),
        "seed": args.seed, "epochs": args.epochs, "batch": args.batch, "lr": args.lr,
        "data": {"generator": "tools.plates.train_province.make (texts -> render -> crops -> degrade -> cut)",
                 "train": f"seed {args.seed}, {args.shards} shards of {SHARD} Chinese crops, one and two rows "
                          "alternating",
                 "validation": f"seed {args.seed + 1}, {args.val} crops",
                 "degradations": [f"{p:.2f} {step.__name__.lstrip('_')}" for p, step in PIPELINE]},
        "torch": torch.__version__, "threads": 1, "training_seconds": round(seconds),
        "validation_first_char": {k: round(v, 4) for k, v in scores.items()},
        "model_sha256": hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest(),
    }
    (out / "recipe.json").write_text(json.dumps(recipe, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    parent = out.parent / "config.json"
    if parent.is_file():  # the recogniser beside it reads the head from here
        recog = json.loads(parent.read_text(encoding="utf-8"))
        recog["province"] = {"folder": out.name, "note": "the first character of a Chinese plate, from this head"}
        parent.write_text(json.dumps(recog, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--val", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--cache", type=Path, default=Path("var/plates-recog"))
    parser.add_argument("--out", type=Path, default=DEFAULT_FOLDER / "province")
    parser.add_argument("--data-only", action="store_true", help="build the cached shards and stop")
    args = parser.parse_args(argv)
    if args.data_only:
        cached(args.cache, args.seed, range(args.shards))
        return 0
    model, scores, seconds = train(args)
    export(model, args.out)
    write_files(args.out, args, argv, scores, seconds)
    print(f"wrote {args.out}: {(args.out / 'model.onnx').stat().st_size / 1e6:.2f} MB, {seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
