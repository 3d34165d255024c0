"""Enrollment: images (one identity per sub-folder, or a CSV of id,path) or embeddings."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gate_face.index import EmbeddingIndex
from gate_face.pipeline import FacePipeline

Array = np.ndarray[Any, Any]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass
class EnrollReport:
    enrolled: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)

    def lines(self) -> list[str]:
        out = [f"enrolled {len(self.enrolled)} identities, rejected {len(self.rejected)} inputs"]
        out += [f"  rejected {src}: {why}" for src, why in self.rejected]
        return out


def image_sources(images: Path, csv_file: Path | None = None) -> dict[str, list[Path]]:
    """id -> image paths, from ``csv_file`` (columns id,path; paths relative to ``images``)
    or else from the sub-folders of ``images`` (folder name = id)."""
    found: dict[str, list[Path]] = defaultdict(list)
    if csv_file is not None:
        with open(csv_file, newline="") as f:
            for row in csv.reader(f):
                if len(row) >= 2 and row[0].strip() and row[0].strip().lower() != "id":
                    found[row[0].strip()].append(images / row[1].strip())
        return dict(found)
    for sub in sorted(p for p in images.iterdir() if p.is_dir()):
        found[sub.name] = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return dict(found)


def enroll_images(index: EmbeddingIndex, pipeline: FacePipeline,
                  sources: dict[str, list[Path]]) -> EnrollReport:
    """Embed every image; an identity's template is the normalised mean of its accepted
    images.  Existing ids are replaced."""
    report = EnrollReport()
    for id_, paths in sources.items():
        embs = []
        for path in paths:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                report.rejected.append((str(path), "unreadable image"))
                continue
            result = pipeline.process(image)
            if result.embedding is None:
                report.rejected.append((str(path), result.status))
                continue
            embs.append(result.embedding)
        if not embs:
            report.rejected.append((id_, "no usable image"))
            continue
        index.upsert([id_], np.mean(embs, axis=0))
        report.enrolled.append(id_)
    return report


def enroll_embeddings(index: EmbeddingIndex, vectors: Array, ids: list[str]) -> EnrollReport:
    """Enroll rows of ``vectors`` under ``ids``; rows of the wrong width, non-finite or zero
    are rejected, as are duplicate ids."""
    report = EnrollReport()
    vecs = np.asarray(vectors)
    if vecs.ndim != 2 or vecs.shape[1] != index.dim:
        report.rejected.append(("embeddings", f"shape {vecs.shape}, expected (n, {index.dim})"))
        return report
    if len(ids) != len(vecs):
        report.rejected.append(("embeddings", f"{len(ids)} ids for {len(vecs)} rows"))
        return report
    seen: set[str] = set()
    for id_, row in zip(ids, vecs, strict=True):
        if id_ in seen:
            report.rejected.append((id_, "duplicate id"))
        elif not np.isfinite(row).all() or not np.any(row):
            report.rejected.append((id_, "non-finite or zero vector"))
        else:
            try:
                index.upsert([id_], row)
            except ValueError as exc:
                report.rejected.append((id_, str(exc)))
                continue
            report.enrolled.append(id_)
        seen.add(id_)
    return report
