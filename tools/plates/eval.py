"""Evaluate the shipped recogniser (onnxruntime, as the plugin runs it) on held-out crops.

    .venv/bin/python -m tools.plates.eval                  # writes plugins/gate_plate/models/recog/eval.json

The crops come from ``--seed`` (never a training seed) over the full range of degradations, ``--per-group``
of each country/layout. Reported: exact reads per group (text, and text with the right kind/country/layout),
container codes read exactly with a valid ISO 6346 check digit, the most frequent character confusions,
the confidence of right and wrong reads, and ms per crop on one thread (preprocessing included).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from gate_plate.recognise import DEFAULT_FOLDER, CropRead, Recogniser
from gatecore.api import valid_container_code
from tools.plates.crops import make_crop
from tools.plates.texts import GROUPS, PlateText, group_of


def confusions(truth: str, read: str) -> list[str]:
    """Character-level differences, as ``"8>B"`` (substitution), ``"8>"`` (missed) or ``">8"`` (extra)."""
    out = []
    for op, i0, i1, j0, j1 in difflib.SequenceMatcher(None, truth, read, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        a, b = truth[i0:i1], read[j0:j1]
        if op == "replace" and len(a) == len(b):
            out.extend(f"{x}>{y}" for x, y in zip(a, b, strict=True))
        else:
            out.append(f"{a}>{b}")
    return out


def samples(seed: int, per_group: int) -> list[tuple[PlateText, np.ndarray]]:
    rng = np.random.default_rng([seed, 7])
    out = []
    for name in GROUPS:
        for _ in range(per_group):
            s = GROUPS[name](rng)
            out.append((s, make_crop(s, rng)))
    return out


def _timed_reads(recogniser: Recogniser, crops: list[np.ndarray]) -> tuple[list[CropRead], list[float]]:
    reads, ms = [], []
    for crop in crops:
        t = time.perf_counter()
        reads.append(recogniser.read(crop))
        ms.append((time.perf_counter() - t) * 1000)
    return reads, ms


def evaluate(folder: Path, seed: int, per_group: int) -> dict[str, object]:
    recogniser = Recogniser(folder, threads=1)
    data = samples(seed, per_group)
    recogniser.read(data[0][1])  # warm up
    reads, ms = _timed_reads(recogniser, [c for _, c in data])
    per: dict[str, Counter[str]] = {name: Counter() for name in GROUPS}
    confused: Counter[str] = Counter()
    series: dict[str, Counter[str]] = {}
    conf_right, conf_wrong, examples = [], [], []
    for (sample, _), read in zip(data, reads, strict=True):
        g = per[group_of(sample)]
        g["n"] += 1
        right = read.text == sample.text
        g["exact"] += right
        g["exact_and_layout"] += right and (read.kind, read.country, read.layout) == (
            sample.kind, sample.country, sample.layout)
        if sample.country == "CN":  # the province character apart: where the Han reading stands
            g["exact_but_province"] += read.text[1:] == sample.text[1:] and len(read.text) == len(sample.text)
        if sample.kind == "container":
            g["check_digit_valid"] += right and valid_container_code(read.text)
            g["wrong_but_check_digit_valid"] += (not right) and valid_container_code(read.text)
        per_series = series.setdefault(f"{sample.country or 'container'}/{sample.series}", Counter())
        per_series["n"] += 1
        per_series["exact"] += right
        (conf_right if right else conf_wrong).append(read.confidence)
        if not right:
            confused.update(confusions(sample.text, read.text))
            if len(examples) < 25:
                examples.append({"truth": sample.text, "read": read.text, "group": group_of(sample),
                                 "confidence": round(read.confidence, 3)})
    groups = {name: {k: (v if k == "n" else round(v / max(c["n"], 1), 4)) for k, v in c.items()}
              for name, c in per.items()}
    plates = [per[n] for n in GROUPS if not n.startswith("container")]
    containers = [per[n] for n in GROUPS if n.startswith("container")]
    model = folder / "model.onnx"
    return {
        "seed": seed,
        "per_group": per_group,
        "groups": groups,
        "plates_exact": round(sum(c["exact"] for c in plates) / sum(c["n"] for c in plates), 4),
        "containers_exact_with_check_digit": round(
            sum(c["check_digit_valid"] for c in containers) / sum(c["n"] for c in containers), 4),
        "series_exact": {k: round(v["exact"] / v["n"], 4) for k, v in sorted(series.items())},
        "confusions": dict(confused.most_common(20)),
        "wrong_examples": examples,
        "confidence": {"right_median": _median(conf_right), "wrong_median": _median(conf_wrong),
                       "right_below_0.5": round(float(np.mean(np.array(conf_right) < 0.5)), 4) if conf_right else 0,
                       "wrong_at_or_above_0.5": round(float(np.mean(np.array(conf_wrong) >= 0.5)), 4)
                       if conf_wrong else 0},
        "ms_per_crop": {"median": round(float(np.median(ms)), 3), "p90": round(float(np.percentile(ms, 90)), 3),
                        "mean": round(float(np.mean(ms)), 3), "threads": 1},
        "model_bytes": model.stat().st_size,
        "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
    }


def _median(values: list[float]) -> float:
    return round(float(np.median(values)), 4) if values else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--seed", type=int, default=2027, help="held-out seed (training uses 12 and 13)")
    parser.add_argument("--per-group", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None, help="default: eval.json in the model folder")
    args = parser.parse_args(argv)
    report = evaluate(args.folder, args.seed, args.per_group)
    out = args.out or args.folder / "eval.json"
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    for name, g in report["groups"].items():  # type: ignore[attr-defined]
        print(f"{name:22s} n={g['n']:5d} exact {g['exact']:.4f} with layout {g['exact_and_layout']:.4f}")
    print(f"plates exact {report['plates_exact']:.4f}; containers with check digit "
          f"{report['containers_exact_with_check_digit']:.4f}")
    print("series:", " ".join(f"{k} {v:.4f}" for k, v in report["series_exact"].items()))  # type: ignore[attr-defined]
    print("confusions:", " ".join(f"{k}:{n}" for k, n in report["confusions"].items()))  # type: ignore[attr-defined]
    print(f"ms per crop (one thread): {report['ms_per_crop']}; model {report['model_bytes'] / 1e6:.2f} MB")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
