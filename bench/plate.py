"""Plate and container-code reading: ms per crop (recognition) and per 1080p scene (detect + recognise) on one
core, beside Tesseract 5 (the classical offline reader) run on the same crops in the same run.

    python bench/plate.py [--per-group 100] [--scenes 200] [--seed 7] [--no-write]

Crops and their figures come from the recogniser's own evaluation (``tools.plates.eval``: detector-like crops
over the full range of degradations, ``--per-group`` for each of VN / CN one- and two-row plates and horizontal
and vertical container codes); scenes from ``tools.plates.scenes`` (judged as ``tools.plates.eval_scenes``
does); both with held-out seeds (training uses others). A crop is read when the normalised text is exact; a
container code counts for ``code_accuracy`` when it is exact and its ISO 6346 check digit is valid; a scene is
read when every plate and code in it is read and nothing else is reported.

Tesseract is given every advantage we can: the crop's known layout picks its page segmentation (7: one line;
6: a block, for two rows and for a vertical column of characters, where it beat 5), Chinese plates get
``chi_sim+eng``, the others ``eng``, the character whitelist is the plates' alphabet, crops are grey and scaled
to 64 px per row; one process reads all crops of a kind (its start-up is spread over them). onnxruntime runs
with one intra-op thread, OpenCV with one, Tesseract with OMP_THREAD_LIMIT=1.
Writes its section of BENCHMARKS.md; the last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ (the generators) is not an installed package

from _report import write_section

from gate_plate.detect import Detector
from gate_plate.reader import PlateReader
from gate_plate.recognise import DEFAULT_FOLDER as RECOG_FOLDER
from gate_plate.recognise import Recogniser
from gatecore.api import normalise_plate, valid_container_code
from tools.plates import eval as crop_eval
from tools.plates import eval_scenes, scenes, texts

Array = np.ndarray[Any, Any]
SECTION = "Plate and container-code reading (bench/plate.py)"
PSM = {"one_row": "7", "horizontal": "7", "two_row": "6", "vertical": "6"}  # 6 beat 5 on vertical codes


def _for_tesseract(crop: Array, rows: int) -> Array:
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape
    scale = 64 / w if h > w else 64 * rows / h  # a vertical code stays upright, 64 px across
    grey = cv2.resize(grey, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_CUBIC)
    return cv2.copyMakeBorder(grey, 16, 16, 16, 16, cv2.BORDER_REPLICATE)


def run_tesseract(data: list[tuple[texts.PlateText, Array]]) -> tuple[list[str], float]:
    """Tesseract's reads of the crops (normalised) and its ms per crop, one process per (language, layout)."""
    reads = [""] * len(data)
    kinds: dict[tuple[str, str], list[int]] = {}
    for i, (sample, _) in enumerate(data):
        kinds.setdefault(("chi_sim+eng" if sample.country == "CN" else "eng", PSM[sample.layout]), []).append(i)
    whitelist = texts.ALPHABET
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, (sample, crop) in enumerate(data):
            paths.append(Path(tmp) / f"{i}.png")
            cv2.imwrite(str(paths[i]), _for_tesseract(crop, len(sample.rows) if sample.layout == "two_row" else 1))
        t0 = time.perf_counter()
        for (lang, psm), index in kinds.items():
            listing = Path(tmp) / f"{lang}-{psm}.txt"
            listing.write_text("".join(f"{paths[i]}\n" for i in index))
            out = subprocess.run(["tesseract", str(listing), "stdout", "-l", lang, "--psm", psm, "-c",
                                  f"tessedit_char_whitelist={whitelist}"], capture_output=True, text=True,
                                 check=True, timeout=3600, env={"OMP_THREAD_LIMIT": "1", "PATH": "/usr/bin:/bin"})
            pages = out.stdout.split("\f")
            for k, i in enumerate(index):
                reads[i] = normalise_plate(pages[k]) if k < len(pages) else ""
        ms = (time.perf_counter() - t0) * 1e3 / len(data)
    return reads, ms


def ensure_tesseract() -> None:
    if shutil.which("tesseract") is None:
        sys.exit("tesseract is not installed: apt-get install -y tesseract-ocr tesseract-ocr-chi-sim "
                 "(make bench does it)")


def tesseract_accuracy(data: list[tuple[texts.PlateText, Array]], reads: list[str]) -> dict[str, Any]:
    """The figures `tools.plates.eval.evaluate` gives for our recogniser, for Tesseract's reads."""
    groups: dict[str, Counter[str]] = {}
    for (sample, _), read in zip(data, reads, strict=True):
        g = groups.setdefault(texts.group_of(sample), Counter())
        g["n"] += 1
        g["exact"] += read == sample.text
        g["check_digit_valid"] += read == sample.text and valid_container_code(read)
    return {"groups": {k: {"n": g["n"], "exact": g["exact"] / g["n"]} for k, g in groups.items()},
            "containers_exact_with_check_digit": sum(g["check_digit_valid"] for k, g in groups.items()
                                                     if k.startswith("container"))
            / max(1, sum(g["n"] for k, g in groups.items() if k.startswith("container")))}


def crop_accuracy(figures: dict[str, Any]) -> float:
    groups = figures["groups"].values()
    return sum(g["exact"] * g["n"] for g in groups) / sum(g["n"] for g in groups)


def run_scenes(reader: PlateReader, seed: int, count: int) -> dict[str, Any]:
    """``tools.plates.eval_scenes`` over ``count`` scenes; the time is the reader's alone."""
    reader.read(scenes.scene(np.random.default_rng([seed, 10**6])).image)  # warm-up
    return eval_scenes.evaluate(reader.detector, reader, seed, count, 1.0)


def report(args: argparse.Namespace, ours: dict[str, Any], tess: dict[str, Any], ms_tess: float,
           sc: dict[str, Any], det: Detector) -> str:
    groups = sorted(ours["groups"])
    rows = [("gate_plate recogniser", f"{ours['ms_per_crop']['median']:.2f}", ours),
            ("Tesseract 5 (layout given)", f"{ms_tess:.1f}", tess)]
    lines = [f"{args.per_group} crops per group and {args.scenes} 1080p scenes, seeds {args.seed} and "
             f"{args.seed + 1000} (held out); one core (onnxruntime and OpenCV single-threaded); medians.", "",
             "| reader | ms per crop | crops exact | codes exact + check digit | " + " | ".join(groups) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(groups)]
    lines += [f"| {name} | {ms} | {crop_accuracy(f):.1%} | {f['containers_exact_with_check_digit']:.1%} | "
              + " | ".join(f"{f['groups'][g]['exact']:.1%}" for g in groups) + " |" for name, ms, f in rows]
    lines += ["",
             f"Scenes (detect + rectify + recognise): {sc['ms_per_scene_median']:.1f} ms per scene, "
             f"{sc['scene_accuracy']:.1%} of scenes read exactly, {sc['read_accuracy']:.1%} of "
             f"{sc['targets']} plates and codes read, detection recall {sc['detection_recall']:.1%}, "
             f"{sc['false_regions_per_scene']:.3f} false regions and {sc['false_reads_per_scene']:.3f} false reads "
             "per scene.", "",
             "| group (scenes) | targets | detected | read | its scenes read |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {g} | {v['targets']} | {v['detection_recall']:.1%} | {v['read']:.1%} | {v['scenes_read']:.1%} |"
              for g, v in sc["groups"].items()]
    lines += ["", f"Detector input {det.width} x {det.height}; most frequent scene confusions: "
              + ", ".join(f"`{c}` {n}" for c, n in sc["confusions"][:8])]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-group", type=int, default=100, help="crops per country/layout group")
    ap.add_argument("--scenes", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    ensure_tesseract()
    cv2.setNumThreads(1)
    ours = crop_eval.evaluate(RECOG_FOLDER, args.seed, args.per_group)  # the recogniser's own evaluation
    data = crop_eval.samples(args.seed, args.per_group)  # the same crops again, for Tesseract
    tess_reads, ms_tess = run_tesseract(data)
    tess = tesseract_accuracy(data, tess_reads)
    detector = Detector(threads=1)
    sc = run_scenes(PlateReader(detector, Recogniser(threads=1)), args.seed + 1000, args.scenes)
    text = report(args, ours, tess, ms_tess, sc, detector)
    print(text)
    if not args.no_write:
        write_section(SECTION, f"python bench/plate.py --per-group {args.per_group} --scenes {args.scenes} "
                      f"--seed {args.seed}", text, keep_previous=True)
    print(json.dumps({"bench": "plate", "crop_accuracy": round(crop_accuracy(ours), 4),
                      "scene_accuracy": round(sc["scene_accuracy"], 4),
                      "code_accuracy": ours["containers_exact_with_check_digit"],
                      "ms_per_crop": ours["ms_per_crop"]["median"],
                      "ms_per_scene": round(sc["ms_per_scene_median"], 2),
                      "tesseract_crop_accuracy": round(crop_accuracy(tess), 4)}))


if __name__ == "__main__":
    main()
