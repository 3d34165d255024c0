"""A model soup: the mean of the weights of several fine-tunes of one model (same network, same start).

Fine-tunes that start from one model and run at a low learning rate stay in one basin of the loss, and the
mean of their weights usually reads better than any one of them, at no cost at run time: the soup is one
network of the same size (Wortsman et al., "Model soups", 2022). Each ingredient is an exported
``model.onnx``; their graphs must be the same node for node. The export folds the batch norms into the
convolutions, so the mean is taken of the folded weights: not the network whose every weight is the mean, but
a point between the fine-tunes all the same, and with ``--frozen-norm`` they all fold the same statistics.
Whether it reads better is measured (tools/plates/README.md), not assumed.

    python -m tools.plates.soup --out DIR FOLDER [FOLDER...]

writes ``DIR/model.onnx``, the first folder's ``config.json`` unless DIR has one (the shipped folder's also
names the province head; all must agree on their ``input``) and ``DIR/recipe.json`` naming every ingredient's
hash and recipe. Needs onnx and numpy only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from gate_plate.models import sha256_file


def _graph_key(model: onnx.ModelProto) -> bytes:
    """The graph without its weights: nodes, inputs and outputs, and each initializer's name, type and shape."""
    graph = onnx.GraphProto()
    graph.CopyFrom(model.graph)
    shapes = [(i.name, i.data_type, tuple(i.dims)) for i in graph.initializer]
    del graph.initializer[:]
    return graph.SerializeToString(deterministic=True) + repr(shapes).encode()


def soup(models: list[onnx.ModelProto], weights: list[float] | None = None) -> onnx.ModelProto:
    """The weighted mean (default: uniform) of the float initializers of ``models``, which must share one
    graph; integer initializers (shapes, indices) must be equal and are kept."""
    if not models:
        raise ValueError("a soup needs at least one model")
    weights = [1.0] * len(models) if weights is None else weights
    if len(weights) != len(models) or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(f"weights {weights} do not fit {len(models)} models")
    key = _graph_key(models[0])
    for k, model in enumerate(models[1:], start=2):
        if _graph_key(model) != key:
            raise ValueError(f"model {k} has another graph than model 1: a soup needs one network")
    out = onnx.ModelProto()
    out.CopyFrom(models[0])
    total = sum(weights)
    for k, init in enumerate(out.graph.initializer):
        arrays = [numpy_helper.to_array(m.graph.initializer[k]) for m in models]
        if arrays[0].dtype.kind != "f":
            if any(not np.array_equal(a, arrays[0]) for a in arrays[1:]):
                raise ValueError(f"initializer {init.name!r} is not a weight and differs between the models")
            continue
        mean = sum(w * a.astype(np.float64) for w, a in zip(weights, arrays, strict=True)) / total
        init.CopyFrom(numpy_helper.from_array(mean.astype(arrays[0].dtype), init.name))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="model folders (model.onnx, config.json, recipe.json)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    configs = [json.loads((f / "config.json").read_text(encoding="utf-8")) for f in args.folders]
    for folder, config in zip(args.folders[1:], configs[1:], strict=True):
        if config.get("input") != configs[0].get("input"):
            raise SystemExit(f"{folder}: config.json's input differs from {args.folders[0]}'s")
    kept = args.out / "config.json"
    if kept.exists() and json.loads(kept.read_text(encoding="utf-8")).get("input") != configs[0].get("input"):
        raise SystemExit(f"{kept}: its input differs from the ingredients'")
    model = soup([onnx.load(str(f / "model.onnx")) for f in args.folders])
    args.out.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(args.out / "model.onnx"))
    if not kept.exists():
        shutil.copy(args.folders[0] / "config.json", kept)
    recipe = {
        "soup": "the uniform mean of the ingredients' weights (tools/plates/soup.py)",
        "command": "python -m tools.plates.soup --out OUT " + " ".join(str(f) for f in args.folders),
        "ingredients": [
            {"model_sha256": sha256_file(f / "model.onnx"),
             "recipe": json.loads((f / "recipe.json").read_text(encoding="utf-8"))
             if (f / "recipe.json").exists() else None}
            for f in args.folders],
        "model_sha256": sha256_file(args.out / "model.onnx"),
    }
    (args.out / "recipe.json").write_text(json.dumps(recipe, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: the mean of {len(args.folders)} models, sha256 {recipe['model_sha256'][:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
