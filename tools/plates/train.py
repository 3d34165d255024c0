"""Train the plate/container recogniser on the CPU and export it to ONNX with its config and recipe.

    .venv/bin/pip install -e '.[train]'
    .venv/bin/python -m tools.plates.train            # the shipped model (about an hour on one core)
    .venv/bin/python -m tools.plates.train --data default:0:4 --epochs 1 --out /tmp/recog   # a quick look

Data: ``--data MIX:FIRST:COUNT``... shards of 2000 degraded crops from ``--seed`` (`tools.plates.dataset`,
cached under ``--cache``), validation on 2000 crops from ``--seed + 1``. One thread
(``torch.set_num_threads(1)``), everything seeded.
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

from gate_plate.recognise import DEFAULT_FOLDER, standardise
from tools.plates.dataset import GROUP_NAMES, MIXES, Batch, cached, encode, make
from tools.plates.degrade import PIPELINE
from tools.plates.model import Recogniser
from tools.plates.texts import ALPHABET

WIDTH, BANDS = 192, 2


def _targets(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    codes = [encode(t) for t in texts]
    return torch.tensor([c for cs in codes for c in cs]), torch.tensor([len(cs) for cs in codes])


def _decode(log_probs: torch.Tensor) -> list[str]:
    out = []
    for path in log_probs.argmax(-1).tolist():
        chars, prev = [], 0
        for k in path:
            if k != prev and k != 0:
                chars.append(ALPHABET[k - 1])
            prev = k
        out.append("".join(chars))
    return out


def training_mode(model: Recogniser, frozen_norm: bool) -> None:
    """``model`` in training mode; with ``frozen_norm`` its batch norms keep their running statistics (a
    fine-tune from an exported model, whose norms ``warm_start`` made pass-throughs, then starts where that
    model was instead of renormalising every layer by the batch's statistics)."""
    model.train()
    if frozen_norm:
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                m.eval()


def evaluate(model: Recogniser, *sets: Batch, batch: int = 256, frozen_norm: bool = False) -> dict[str, float]:
    """Exact-read rate per group and overall over one or more sets (each of one width; torch, for progress
    during training)."""
    model.eval()
    right = np.zeros(len(GROUP_NAMES))
    total = np.zeros(len(GROUP_NAMES))
    with torch.no_grad():
        for data, i in ((d, i) for d in sets for i in range(0, len(d.texts), batch)):
            x = torch.from_numpy(standardise(data.images[i: i + batch])[:, None])
            log_probs, group = model(x)
            for text, truth, g, pg in zip(_decode(log_probs), data.texts[i: i + batch], data.groups[i: i + batch],
                                          group.argmax(-1).tolist(), strict=True):
                total[g] += 1
                right[g] += text == truth and pg == g
    training_mode(model, frozen_norm)
    scores = {name: float(right[k] / max(total[k], 1)) for k, name in enumerate(GROUP_NAMES)}
    scores["all"] = float(right.sum() / max(total.sum(), 1))
    return scores


def warm_start(model: Recogniser, onnx_path: Path) -> None:
    """Start from an exported model: named weights by name; each convolution with its batch norm folded in
    (as the export writes it) becomes the convolution plus a batch norm that passes it through."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    state = model.state_dict()
    for name, value in weights.items():
        if name in state:
            state[name] = value
    folded = [weights[k] for k in sorted((k for k in weights if k.startswith("onnx::Conv_")),
                                          key=lambda k: int(k.rsplit("_", 1)[1]))]
    pairs = [m for m in model.modules() if isinstance(m, nn.Sequential) and len(m) == 3
             and isinstance(m[0], nn.Conv1d | nn.Conv2d)]
    if len(folded) != 2 * len(pairs):
        raise ValueError(f"{onnx_path} does not match this network ({len(folded)} folded tensors)")
    for block, weight, bias in zip(pairs, folded[0::2], folded[1::2], strict=True):
        prefix = next(k for k, m in model.named_modules() if m is block)
        state[f"{prefix}.0.weight"] = weight
        state[f"{prefix}.1.weight"] = torch.ones_like(bias)
        state[f"{prefix}.1.bias"] = bias
        state[f"{prefix}.1.running_mean"] = torch.zeros_like(bias)
        state[f"{prefix}.1.running_var"] = torch.ones_like(bias) - 1e-5
    model.load_state_dict(state)


def _load(args: argparse.Namespace, specs: list[str], width: int) -> Batch:
    parts = []
    for spec in specs:
        mix, first, count = spec.split(":")
        parts.append(cached(args.cache, args.seed, range(int(first), int(first) + int(count)), args.height, width,
                            mix))
    return Batch(np.concatenate([p.images for p in parts]), [t for p in parts for t in p.texts],
                 np.concatenate([p.groups for p in parts]))


def _without(data: Batch, group: int) -> Batch:
    keep = np.flatnonzero(data.groups != group)
    return Batch(data.images[keep], [data.texts[i] for i in keep], data.groups[keep])


def _validation(args: argparse.Namespace) -> list[Batch]:
    """Validation crops from ``--seed + 1``, groups uniform; with a wider view for vertical codes, those are
    made again at ``--tall-width``."""
    val = make(args.seed + 1, 0, args.val, args.height, WIDTH, uniform=True)
    if args.tall_width == WIDTH:
        return [val]
    vertical = GROUP_NAMES.index("container/vertical")
    n = int((val.groups == vertical).sum())
    return [_without(val, vertical), make(args.seed + 1, 1, n, args.height, args.tall_width, mix="tall")]


def train(args: argparse.Namespace) -> tuple[Recogniser, dict[str, float], float]:
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    t0 = time.monotonic()
    sets = [_load(args, args.data, WIDTH)] + ([_load(args, args.tall, args.tall_width)] if args.tall else [])
    val = _validation(args)
    print(f"data: {' + '.join(str(len(d.texts)) for d in sets)} crops in {time.monotonic() - t0:.0f} s", flush=True)
    model = Recogniser(len(ALPHABET) + 1, len(GROUP_NAMES), BANDS)
    if args.init is not None:
        warm_start(model, args.init)
    training_mode(model, args.frozen_norm)
    steps = args.epochs * sum(len(d.texts) // args.batch for d in sets)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    ctc, ce = nn.CTCLoss(blank=0, zero_infinity=True), nn.CrossEntropyLoss()
    order_rng = np.random.default_rng(args.seed)
    step = 0
    for epoch in range(args.epochs):
        batches = [(data, order[i: i + args.batch]) for data in sets
                   for order in [order_rng.permutation(len(data.texts))]
                   for i in range(0, len(order) - args.batch + 1, args.batch)]
        for k in order_rng.permutation(len(batches)):
            data, idx = batches[k]
            x = torch.from_numpy(standardise(data.images[idx])[:, None])
            targets, lengths = _targets([data.texts[j] for j in idx])
            log_probs, group = model(x)
            frames = torch.full((len(idx),), log_probs.shape[1], dtype=torch.long)
            loss = ctc(log_probs.transpose(0, 1), targets, frames, lengths)
            loss = loss + 0.2 * ce(group, torch.from_numpy(data.groups[idx]))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            step += 1
            if step % 100 == 0:
                print(f"epoch {epoch} step {step}/{steps} loss {loss.item():.3f} "
                      f"{time.monotonic() - t0:.0f} s", flush=True)
            if step % 500 == 0:
                quick = evaluate(model, *(Batch(v.images[:150], v.texts[:150], v.groups[:150]) for v in val),
                                 frozen_norm=args.frozen_norm)
                print(f"step {step} val[:300] {quick['all']:.3f}", flush=True)
        scores = evaluate(model, *val, frozen_norm=args.frozen_norm)
        print(f"epoch {epoch} val " + " ".join(f"{k} {v:.3f}" for k, v in scores.items()), flush=True)
    return model, scores, time.monotonic() - t0


def export(model: Recogniser, out: Path, height: int, tall_width: int = WIDTH) -> Path:
    """``model.onnx`` in ``out`` (batch size and width free), checked against torch on random inputs of both
    widths."""
    import onnxruntime as ort

    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "model.onnx"
    x = torch.randn(2, 1, height, WIDTH)
    torch.onnx.export(model, (x,), str(path), input_names=["image"], output_names=["log_probs", "group"],
                      dynamic_axes={"image": {0: "n", 3: "width"}, "log_probs": {0: "n", 1: "frames"},
                                    "group": {0: "n"}},
                      opset_version=17, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for probe in (x, torch.randn(2, 1, height, tall_width)):
        got = session.run(None, {"image": probe.numpy()})[0]
        with torch.no_grad():
            want = model(probe)[0].numpy()
        if not np.allclose(got, want, atol=1e-3):
            raise RuntimeError(f"the exported model disagrees with torch at width {probe.shape[3]}")
    return path


def write_config(out: Path, height: int, tall_width: int = WIDTH) -> None:
    groups = []
    for name in GROUP_NAMES:
        head, layout = name.split("/")
        kind = "container" if head == "container" else "plate"
        groups.append({"name": name, "kind": kind, "country": "" if kind == "container" else head, "layout": layout})
    config = {
        "input": {"height": height, "width": WIDTH, "tall_width": tall_width, "channels": 1, "colour": "grey",
                  "tall_crop": "more than twice as tall as wide (a vertical container code): rotated 90 degrees "
                               "counter-clockwise and read tall_width wide",
                  "normalise": "per image: (x/255 - mean) / max(std, 0.02)"},
        "output": {"log_probs": "CTC log-probabilities (n, frames, 1 + len(alphabet)), class 0 the blank; "
                                "frames: the top row band's columns then the bottom one's",
                   "group": "logits over groups"},
        "bands": BANDS,
        "alphabet": ALPHABET,
        "groups": groups,
    }
    (out / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_recipe(out: Path, args: argparse.Namespace, argv: list[str], scores: dict[str, float],
                 seconds: float) -> None:
    digest = hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest()
    recipe = {
        "command": "python -m tools.plates.train " + shlex.join(argv),
        "seed": args.seed,
        "epochs": args.epochs,
        "height": args.height,
        "tall_width": args.tall_width,
        "frozen_norm": args.frozen_norm,
        "batch": args.batch,
        "lr": args.lr,
        "data": {"generator": "tools.plates.dataset.make (texts -> render -> crops -> degrade)",
                 "train": f"seed {args.seed}, shards of 2000 crops (mix:first:count): {' '.join(args.data)}",
                 "tall": f"{' '.join(args.tall)} at width {args.tall_width}" if args.tall else None,
                 "mixes": MIXES,
                 "init": str(args.init) if args.init else None,
                 "init_sha256": hashlib.sha256(args.init.read_bytes()).hexdigest() if args.init else None,
                 "validation": f"seed {args.seed + 1}, {args.val} crops, groups uniform",
                 "degradations": [f"{p:.2f} {step.__name__.lstrip('_')}" for p, step in PIPELINE]},
        "torch": torch.__version__,
        "threads": 1,
        "training_seconds": round(seconds),
        "validation_exact": {k: round(v, 4) for k, v in scores.items()},
        "model_sha256": digest,
    }
    (out / "recipe.json").write_text(json.dumps(recipe, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--data", nargs="+", default=["default:0:40"],
                        help="training shards of 2000 crops, as MIX:FIRST:COUNT (mixes: tools.plates.dataset.MIXES)")
    parser.add_argument("--height", type=int, default=64,
                        help="input height in px (the width is 192); the shipped model's: 96")
    parser.add_argument("--tall", nargs="*", default=[],
                        help="vertical-code shards (MIX:FIRST:COUNT, mix 'tall') made and trained at --tall-width")
    parser.add_argument("--tall-width", type=int, default=WIDTH,
                        help="the width vertical codes are read at (the shipped model's: 384)")
    parser.add_argument("--frozen-norm", action="store_true",
                        help="keep the batch norms' statistics (with --init: start from that model's reads)")
    parser.add_argument("--val", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--cache", type=Path, default=Path("var/plates-recog"))
    parser.add_argument("--out", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--init", type=Path, default=None, help="a model.onnx to start from (fine-tuning)")
    args = parser.parse_args(argv)
    model, scores, seconds = train(args)
    export(model, args.out, args.height, args.tall_width)
    write_config(args.out, args.height, args.tall_width)
    write_recipe(args.out, args, argv, scores, seconds)
    print(f"wrote {args.out}: {(args.out / 'model.onnx').stat().st_size / 1e6:.2f} MB, {seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
