"""``gatecore face enroll | calibrate | info``."""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from gate_face import modelcmds
from gate_face.calibrate import calibrate, pair_scores
from gate_face.config import FaceConfig
from gate_face.enroll import enroll_embeddings, enroll_images, image_sources
from gate_face.index import EmbeddingIndex
from gate_face.store import GalleryFileError, GalleryStore


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    face = subparsers.add_parser("face", help="face galleries and models: enroll, calibrate, info, models, compare")
    sub = face.add_subparsers(dest="face_command", required=True)
    enroll = sub.add_parser("enroll", help="add identities to a gallery")
    enroll.add_argument("gallery")
    src = enroll.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", type=Path, help="one sub-folder per identity (or see --csv)")
    src.add_argument("--embeddings", type=Path, help="an (n, d) .npy of embeddings")
    enroll.add_argument("--csv", type=Path, help="with --images: rows of id,path")
    enroll.add_argument("--ids", type=Path, help="with --embeddings: one id per line")
    _common(enroll)
    enroll.set_defaults(func=cmd_enroll)
    cal = sub.add_parser("calibrate", help="threshold for a target false-match rate")
    cal.add_argument("gallery")
    cal.add_argument("--embeddings", type=Path, required=True, help="calibration set, (n, d) .npy")
    cal.add_argument("--labels", type=Path, required=True, help="one label per line (same person = same label)")
    cal.add_argument("--target-fmr", type=float, required=True)
    _common(cal)
    cal.set_defaults(func=cmd_calibrate)
    info = sub.add_parser("info", help="list galleries, sizes and thresholds")
    _common(info)
    info.set_defaults(func=cmd_info)
    modelcmds.add_commands(sub)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", type=Path, help="take models and galleries_dir from [plugins.gate_face]")
    p.add_argument("--dir", type=Path, help="galleries directory (default: the profile's galleries_dir)")
    p.add_argument("--dim", type=int, help="embedding dimension of a new gallery (default: the embedder's)")


def _section(profile: Path | None) -> FaceConfig | None:
    if profile is None:
        return None
    raw = tomllib.loads(profile.read_text(encoding="utf-8"))
    return FaceConfig.model_validate(raw.get("plugins", {}).get("gate_face", {}))


def _store(args: argparse.Namespace, cfg: FaceConfig | None) -> GalleryStore:
    root = args.dir or (cfg.galleries_dir if cfg else None)
    if root is None:
        raise ValueError("give --dir or --profile")
    return GalleryStore(root)


def _open(store: GalleryStore, name: str, dim: int) -> EmbeddingIndex:
    if store.path(name).exists():
        index = store.load(name, verify=True)
        if index.dim != dim:
            raise ValueError(f"gallery {name} has dimension {index.dim}, not {dim}")
        return index
    return EmbeddingIndex(dim)


def cmd_enroll(args: argparse.Namespace) -> int:
    try:
        cfg = _section(args.profile)
        store = _store(args, cfg)
        if args.embeddings is not None:
            vecs = np.load(args.embeddings, allow_pickle=False)
            ids_file = args.ids or args.embeddings.with_suffix(".ids.txt")
            ids = [line.strip() for line in ids_file.read_text(encoding="utf-8").splitlines() if line.strip()]
            index = _open(store, args.gallery, args.dim or int(np.shape(vecs)[-1]))
            report = enroll_embeddings(index, vecs, ids)
        else:
            if cfg is None:
                raise ValueError("--images needs --profile (the models come from [plugins.gate_face])")
            from gate_face.engine import check_models, make_pipeline

            problems = check_models(cfg)
            if problems:
                raise ValueError("; ".join(msg for _, msg in problems))
            pipeline = make_pipeline(cfg)
            index = _open(store, args.gallery, args.dim or pipeline.embedder.dim)
            report = enroll_images(index, pipeline, image_sources(args.images, args.csv))
        store.save(args.gallery, index)
    except (OSError, ValueError, GalleryFileError) as exc:
        print(f"gatecore face enroll: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    print(f"gallery {args.gallery}: {len(index)} identities in {store.path(args.gallery)}")
    return 0 if report.enrolled or not report.rejected else 1


def cmd_calibrate(args: argparse.Namespace) -> int:
    try:
        store = _store(args, _section(args.profile))
        emb: Any = np.load(args.embeddings, allow_pickle=False)
        labels = np.array(args.labels.read_text(encoding="utf-8").split())
        genuine, impostor = pair_scores(emb, labels)
        cal = calibrate(impostor, args.target_fmr, genuine)
        store.save_calibration(args.gallery, cal)
    except (OSError, ValueError) as exc:
        print(f"gatecore face calibrate: {exc}", file=sys.stderr)
        return 2
    print(f"gallery {args.gallery}: threshold {cal.threshold:.4f} for FMR {cal.target_fmr:g} "
          f"(measured FMR {cal.fmr:.2e} on {cal.n_impostor} impostor pairs, "
          f"FNMR {cal.fnmr if cal.fnmr is not None else float('nan'):.4f} on {cal.n_genuine} genuine pairs)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    try:
        store = _store(args, _section(args.profile))
        for name in store.names():
            index = store.load(name)
            cal = store.calibration(name)
            thr = f"threshold {cal.threshold:.4f} @ FMR {cal.target_fmr:g}" if cal else "not calibrated"
            print(f"{name}: {len(index)} identities, dim {index.dim}, version {index.version}, {thr}")
    except (OSError, ValueError, GalleryFileError) as exc:
        print(f"gatecore face info: {exc}", file=sys.stderr)
        return 2
    return 0
