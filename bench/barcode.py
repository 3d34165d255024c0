"""Barcode reading benchmark: raw zxing-cpp, raw pyzbar and the gate_barcode reader, same frames, same run.

    python bench/barcode.py [--frames 40] [--seed 7] [--no-write]

Generates 1080p grey frames (1-3 codes each, QR / Code 128 / EAN-13 / Data Matrix / PDF417,
module 1.8-4.5 px, varied position) in classes clean, blur, noise, rotation, perspective,
low_contrast, jpeg30 and combined (see ``plugins/gate_barcode/synth.py``).  A code counts as
read when its exact payload is among the texts returned for its frame.  The process is pinned
to one core with OpenCV single-threaded; times are per frame, wall clock (``ms``) and this
thread's CPU time (``cpu``).  The reader is run with each backend to choose the default.
Prints a table, writes the ``## barcode`` section of BENCHMARKS.md, and prints a JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar  # type: ignore[import-untyped]

from gate_barcode import synth
from gate_barcode.reader import BarcodeReader, ZbarBackend, ZxingBackend

Decoder = Callable[[np.ndarray], Iterable[str]]


def _zxing(frame: np.ndarray) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(frame)]


def _zbar(frame: np.ndarray) -> list[str]:
    return [d.data.decode("utf-8", "replace") for d in pyzbar.decode(frame)]


def _reader(reader: BarcodeReader) -> Decoder:
    return lambda frame: [c.text for c in reader.read(frame)]


def _timed(fn: Decoder, frame: np.ndarray) -> tuple[set[str], float, float]:
    t, c = time.perf_counter(), time.thread_time()
    texts = set(fn(frame))
    return texts, (time.perf_counter() - t) * 1000, (time.thread_time() - c) * 1000


def run(frames: int, seed: int, budget_ms: float) -> tuple[dict[str, dict[str, dict[str, float]]], list[float]]:
    decoders: dict[str, Decoder] = {
        "zxing": _zxing,
        "zbar": _zbar,
        "plugin": _reader(BarcodeReader(backend=ZxingBackend(), budget_ms=budget_ms)),
        "plugin_zbar": _reader(BarcodeReader(backend=ZbarBackend(), budget_ms=budget_ms)),
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    plugin_ms: list[float] = []
    for ci, cls in enumerate(synth.CLASSES):
        hits = dict.fromkeys(decoders, 0)
        ms: dict[str, list[float]] = {k: [] for k in decoders}
        cpu: dict[str, list[float]] = {k: [] for k in decoders}
        total = 0
        for i in range(frames):
            frame, placed = synth.make_frame(np.random.default_rng(seed * 1_000_003 + ci * 10_000 + i), cls)
            total += len(placed)
            for name, fn in decoders.items():
                texts, wall, used = _timed(fn, frame)
                hits[name] += sum(p.text in texts for p in placed)
                ms[name].append(wall)
                cpu[name].append(used)
        results[cls] = {name: {"rate": hits[name] / total, "ms_p50": statistics.median(ms[name]),
                               "cpu_p50": statistics.median(cpu[name]), "codes": total, "hits": hits[name]}
                        for name in decoders}
        row = "  ".join(f"{n} {r['rate']:.3f}/{r['ms_p50']:.1f}ms" for n, r in results[cls].items())
        print(f"{cls:13s} codes={total:4d}  {row}", file=sys.stderr, flush=True)
        plugin_ms += ms["plugin"]
    return results, plugin_ms


def _table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    head = ("| class | codes | zxing rate | zbar rate | **plugin rate** | plugin(zbar) rate | zxing ms | zbar ms "
            "| **plugin ms** | plugin cpu ms |\n|---|---|---|---|---|---|---|---|---|---|\n")
    rows = []
    for cls, r in results.items():
        rows.append(f"| {cls} | {int(r['zxing']['codes'])} | {r['zxing']['rate']:.3f} | {r['zbar']['rate']:.3f} "
                    f"| **{r['plugin']['rate']:.3f}** | {r['plugin_zbar']['rate']:.3f} | {r['zxing']['ms_p50']:.1f} "
                    f"| {r['zbar']['ms_p50']:.1f} | **{r['plugin']['ms_p50']:.1f}** | {r['plugin']['cpu_p50']:.1f} |")
    return head + "\n".join(rows) + "\n"


def _overall(results: dict[str, dict[str, dict[str, float]]], name: str) -> float:
    return sum(r[name]["hits"] for r in results.values()) / sum(r[name]["codes"] for r in results.values())


def summary(results: dict[str, dict[str, dict[str, float]]], all_ms: list[float]) -> dict[str, object]:
    return {
        "bench": "barcode",
        "classes": {cls: {"plugin_rate": round(r["plugin"]["rate"], 4), "zxing_rate": round(r["zxing"]["rate"], 4),
                          "zbar_rate": round(r["zbar"]["rate"], 4), "plugin_ms_p50": round(r["plugin"]["ms_p50"], 2)}
                    for cls, r in results.items()},
        "overall_plugin_rate": round(_overall(results, "plugin"), 4),
        "overall_best_raw_rate": round(max(_overall(results, "zxing"), _overall(results, "zbar")), 4),
        "plugin_ms_p50": round(statistics.median(all_ms), 2),
    }


def write_section(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## barcode\n.*?(?=^## |\Z)", re.S | re.M)
    new = pattern.sub(lambda _: text, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    path.write_text(new)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=40, help="frames per class")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--budget-ms", type=float, default=BarcodeReader().budget_ms)
    ap.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    args = ap.parse_args()

    load = os.getloadavg()
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    cv2.setNumThreads(1)
    results, plugin_ms = run(args.frames, args.seed, args.budget_ms)
    out = summary(results, plugin_ms)
    table = _table(results)
    best = {cls: max(r["zxing"]["rate"], r["zbar"]["rate"]) for cls, r in results.items()}
    verdict = [f"- plugin rate >= best raw backend on every class: "
               f"{all(r['plugin']['rate'] >= best[c] for c, r in results.items())}",
               f"- combined: plugin {results['combined']['plugin']['rate']:.3f} vs best raw {best['combined']:.3f} "
               f"({100 * (results['combined']['plugin']['rate'] - best['combined']):+.1f} points; target >= +5)",
               f"- plugin median ms per frame (all frames): {out['plugin_ms_p50']} (target <= 25)",
               f"- default backend by overall rate: zxing {_overall(results, 'plugin'):.3f} "
               f"vs zbar {_overall(results, 'plugin_zbar'):.3f}"]
    print(table)
    print("\n".join(verdict))
    if not args.no_write:
        cmd = f"python bench/barcode.py --frames {args.frames} --seed {args.seed}"
        section = (f"## barcode\n\nCommand: `{cmd}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                   f"{platform.processor() or platform.machine()}, pinned to one core, OpenCV single-threaded; "
                   f"budget {args.budget_ms:g} ms CPU per frame; load average {load[0]:.1f} -> "
                   f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs).\n"
                   f"Rates: exact payloads read / codes placed. Times: median per 1080p frame; `ms` is wall clock, "
                   f"`cpu ms` this thread's CPU time (the wall figures include waiting for other processes).\n\n"
                   f"{table}\n" + "\n".join(verdict) + "\n\n")
        write_section(Path("BENCHMARKS.md"), section)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
