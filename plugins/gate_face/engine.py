"""What a site's face plugin holds: models, galleries with thresholds, an executor."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import structlog

from gate_face import share
from gate_face.chips import DlibChipGeometry
from gate_face.config import FaceConfig
from gate_face.detectors import ScrfdDetector, YuNetDetector
from gate_face.embedders import ArcFaceEmbedder, DlibResNetEmbedder, SFaceEmbedder
from gate_face.index import EmbeddingIndex, IndexError_, Mode
from gate_face.landmarks import ShapePredictor
from gate_face.mmod import MmodDetector, lane_levels
from gate_face.models import ModelError, check_model
from gate_face.pipeline import FacePipeline
from gate_face.quality import QualityLimits
from gate_face.store import GalleryFileError, GalleryStore, file_version
from gatecore.api import SharedState, SiteView, error_text

Array = np.ndarray[Any, Any]
log = structlog.get_logger("gate_face")


class FaceSetupError(RuntimeError):
    """A model, gallery or calibration the profile names is unusable."""


def check_models(cfg: FaceConfig) -> list[tuple[tuple[str, ...], str]]:
    """Problems with the model files, as (key path under the section, message)."""
    issues: list[tuple[tuple[str, ...], str]] = []
    for key in ("detector", "embedder", "landmarks"):
        ref = getattr(cfg, key)
        if ref is None:
            continue
        try:
            check_model(ref.path, ref.sha256)
        except ModelError as exc:
            issues.append(((key, "path"), str(exc)))
    return issues


def threshold_for(cfg: FaceConfig, store: GalleryStore, name: str) -> float:
    policy = cfg.policy(name)
    if policy.threshold is not None:
        return policy.threshold
    cal = store.calibration(name)
    if cal is None:
        raise FaceSetupError(f"gallery {name!r} has no calibration and no explicit threshold "
                             f"(run: gatecore face calibrate {name} ...)")
    if abs(cal.target_fmr - policy.target_fmr) > 1e-12:
        raise FaceSetupError(f"gallery {name!r} is calibrated for FMR {cal.target_fmr:g}, "
                             f"the profile asks {policy.target_fmr:g} (re-run gatecore face calibrate)")
    return cal.threshold


def check_galleries(cfg: FaceConfig) -> list[tuple[tuple[str, ...], str]]:
    store = GalleryStore(cfg.galleries_dir)
    issues: list[tuple[tuple[str, ...], str]] = []
    for name in cfg.gallery_names():
        try:
            store.load(name)
            threshold_for(cfg, store, name)
        except (GalleryFileError, FaceSetupError, ValueError) as exc:
            issues.append((("galleries_dir",), str(exc)))
    return issues


def make_pipeline(c: FaceConfig) -> FacePipeline:
    """The configured family's detector and embedder behind the quality gates."""
    limits = QualityLimits(c.min_eye_distance_px, c.min_sharpness, c.max_yaw_deg, c.max_roll_deg)
    if c.family == "dlib":
        return dlib_pipeline(c.detector.path, c.embedder.path, c.landmarks.path if c.landmarks else None,
                             face_px=c.face_px, step=c.pyramid_step, limits=limits, multiple=c.multiple_faces)
    if c.family == "opencv":
        return FacePipeline(YuNetDetector(c.detector.path), SFaceEmbedder(c.embedder.path),
                            limits=limits, multiple=c.multiple_faces)
    return FacePipeline(ScrfdDetector(c.detector.path, input_size=c.detector_input),
                        ArcFaceEmbedder(c.embedder.path, mean=c.embedder_mean, std=c.embedder_std,
                                        swap_rb=c.embedder_rgb, output=c.embedder_output),
                        limits=limits, multiple=c.multiple_faces)


def dlib_pipeline(detector: Path, embedder: Path, landmarks: Path | None, *,
                  face_px: tuple[float, float] | None = (100.0, 300.0), step: int = 2,
                  limits: QualityLimits | None = None,
                  multiple: Literal["largest", "refuse"] = "largest") -> FacePipeline:
    """The dlib family: MMOD boxes (on the pyramid levels for faces of ``face_px``; None: every level, as
    dlib does), the 5-point shape predictor, ``get_face_chip`` and the ResNet."""
    if landmarks is None:
        raise ModelError("family dlib needs a landmarks model")
    det = MmodDetector(detector)
    if face_px is not None:
        det.levels = lane_levels(face_px, det.geometry.window[0], det.geometry.rate, step)
    pipe = FacePipeline(det, DlibResNetEmbedder(embedder), limits=limits, multiple=multiple,
                        landmarker=ShapePredictor(landmarks), geometry=DlibChipGeometry())
    _warm_dlib(pipe)
    return pipe


def _warm_dlib(pipe: FacePipeline) -> None:
    """Compile (or load from numba's cache) the family's kernels now, while the site is built, not on the
    first crossing: each stage once, on a blank frame and a made-up face."""
    frame = np.zeros((480, 640, 3), np.uint8)
    pipe.detector.detect(frame)
    if pipe.landmarker is not None:
        landmarks = pipe.landmarker.predict(frame, (200.0, 120.0, 160.0, 160.0))
        pipe.geometry.crop(frame, landmarks + np.arange(10, dtype=np.float64).reshape(5, 2))


def warm_up(mode: Mode) -> None:
    """Compile the search kernels now, while the site is being built, not on the first crossing: a cold
    numba cache costs seconds (about 8 s for int8 here), which would refer every crossing meanwhile.
    Compiled kernels are cached on disk (``cache=True``), so later starts only load them."""
    t0 = time.monotonic()
    index = EmbeddingIndex(64)
    index.add(["a", "b"], np.random.default_rng(0).normal(size=(2, 64)).astype(np.float32))
    query = np.ones(64, np.float32)
    index.search(query, 1, mode=mode)
    index.search(query, 1, mode="f32")
    index.verify("a", query)
    log.info("face_kernels_ready", mode=mode, seconds=round(time.monotonic() - t0, 3))


@dataclass
class Gallery:
    name: str
    index: EmbeddingIndex
    threshold: float


@dataclass
class FaceEngine:
    """Per site: galleries and thresholds, and a factory of per-lane pipelines."""

    cfg: FaceConfig
    galleries: dict[str, Gallery]
    executor: ThreadPoolExecutor
    face_sources: dict[str, set[str]] = field(default_factory=dict)  # lane id -> source names
    #: one change to the galleries at a time (an update from another controller, a reload from disk)
    changing: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, cfg: FaceConfig) -> FaceEngine:
        problems = check_models(cfg) + check_galleries(cfg)
        if problems:
            raise FaceSetupError("; ".join(msg for _, msg in problems))
        store = GalleryStore(cfg.galleries_dir)
        galleries = {n: Gallery(n, store.load(n), threshold_for(cfg, store, n))
                     for n in cfg.gallery_names()}
        for n, g in galleries.items():
            log.info("face_gallery", gallery=n, size=len(g.index), version=g.index.version,
                     threshold=round(g.threshold, 4))
        warm_up(cfg.search_mode)
        return cls(cfg, galleries, ThreadPoolExecutor(cfg.workers, thread_name_prefix="gate_face"))

    def pipeline(self) -> FacePipeline:
        """A new pipeline (one per lane: detectors keep per-instance state)."""
        return make_pipeline(self.cfg)

    def match(self, embedding: Array, claimed: str | None) -> dict[str, Any]:
        """Scores of one embedding: 1:1 against ``claimed``, 1:N against the watchlist and,
        with nothing claimed, the residents.  Blocking (numba kernels): run in the executor."""
        out: dict[str, Any] = {}
        watch = self.galleries.get(self.cfg.watchlist or "")
        if watch is not None and len(watch.index):
            best = watch.index.search(embedding, 1, mode=self.cfg.search_mode)[0]
            out.update(watchlist_score=round(best.score, 4), watchlist_threshold=watch.threshold,
                       watchlist_hit=best.score >= watch.threshold)
        if claimed is not None:
            gal = self.galleries[self.cfg.verify_gallery]
            try:
                score = gal.index.verify(claimed, embedding)
            except IndexError_:
                out["verdict_1to1"] = "not_enrolled"
                return out
            out.update(verify_score=round(score, 4), verify_threshold=gal.threshold,
                       verdict_1to1="match" if score >= gal.threshold else "no_match")
            return out
        res = self.galleries.get(self.cfg.residents or "")
        if res is not None and len(res.index):
            best = res.index.search(embedding, 1, mode=self.cfg.search_mode)[0]
            hit = best.score >= res.threshold
            out.update(resident_score=round(best.score, 4), resident_threshold=res.threshold,
                       verdict_1toN="match" if hit else "no_match")
            if hit:
                out["identity_ref"] = best.id
        return out

    def reload_changed(self) -> list[str]:
        """Replace each gallery whose file holds a newer version; the names replaced. Blocking (it maps and
        checks the file): run it in the executor. A file that does not load is logged and left alone."""
        store = GalleryStore(self.cfg.galleries_dir)
        replaced = []
        with self.changing:
            for name, gallery in list(self.galleries.items()):
                version = file_version(store.path(name))
                if version is None or version <= gallery.index.version:
                    continue
                try:
                    index = store.load(name, verify=True)
                except GalleryFileError as exc:
                    log.error("face_gallery_reload_failed", gallery=name, error=error_text(exc))
                    continue
                self.galleries[name] = Gallery(name, index, threshold_for(self.cfg, store, name))
                log.info("face_gallery_reloaded", gallery=name, version=index.version, size=len(index),
                         was=gallery.index.version)
                replaced.append(name)
        return replaced

    def snapshot(self, site: SiteView, name: str) -> SharedState:
        """Gallery ``name`` as a shared-state snapshot. Blocking: run it in the executor."""
        with self.changing:
            return share.snapshot(site, name, self.galleries[name].index)

    def apply_update(self, name: str, update: SharedState) -> bool:
        """Apply a snapshot or delta from another controller to gallery ``name`` and save it to its file,
        so a restart starts from it. Blocking: run it in the executor."""
        with self.changing:
            gallery = self.galleries[name]
            applied = share.apply(gallery.index, update)
            if applied:
                GalleryStore(self.cfg.galleries_dir).save(name, gallery.index)
            return applied

    def close(self) -> None:
        """Blocking: waits for the work already running (a gallery being saved), drops the rest."""
        self.executor.shutdown(wait=True, cancel_futures=True)
