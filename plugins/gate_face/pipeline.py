"""detect -> five landmarks -> similarity alignment -> embed -> L2 normalise, with quality gates."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from gate_face.align import align
from gate_face.detectors import Detection, Detector
from gate_face.embedders import Embedder
from gate_face.quality import Quality, QualityLimits, assess

Array = np.ndarray[Any, Any]
Status = Literal["ok", "bad_image", "no_face", "multiple_faces", "too_small", "blurry", "pose"]


@dataclass(frozen=True)
class FaceResult:
    """What one frame gave.  ``embedding`` is set only when ``status == "ok"``."""

    status: Status
    faces: int = 0
    detect_score: float = 0.0
    quality: Quality | None = None
    failures: tuple[str, ...] = ()
    embedding: Array | None = field(default=None, repr=False)
    timings_ms: dict[str, float] = field(default_factory=dict)


class FacePipeline:
    """One detector and one embedder; ``process`` is synchronous and thread-confined
    (run it in an executor, one pipeline per worker thread)."""

    def __init__(self, detector: Detector, embedder: Embedder, *,
                 limits: QualityLimits | None = None,
                 multiple: Literal["largest", "refuse"] = "largest") -> None:
        self.detector = detector
        self.embedder = embedder
        self.limits = limits or QualityLimits()
        self.multiple = multiple

    def process(self, image: Array) -> FaceResult:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
                or image.dtype != np.uint8 or min(image.shape[:2]) < 16:
            return FaceResult("bad_image")
        timings: dict[str, float] = {}
        t = time.perf_counter()
        faces = self.detector.detect(image)
        t = _lap(timings, "detect", t)
        if not faces:
            return FaceResult("no_face", timings_ms=timings)
        if len(faces) > 1 and self.multiple == "refuse":
            return FaceResult("multiple_faces", len(faces), timings_ms=timings)
        face: Detection = max(faces, key=lambda f: f.area)
        crop = align(image, face.landmarks, self.embedder.size)
        quality = assess(face.landmarks, crop)
        t = _lap(timings, "align", t)
        failures = tuple(quality.failures(self.limits))
        if failures:
            return FaceResult(failures[0], len(faces), face.score, quality,  # type: ignore[arg-type]
                              failures, timings_ms=timings)
        emb = self.embedder.embed(crop)
        _lap(timings, "embed", t)
        return FaceResult("ok", len(faces), face.score, quality, (), emb, timings)


def _lap(timings: dict[str, float], name: str, start: float) -> float:
    now = time.perf_counter()
    timings[name] = (now - start) * 1e3
    return now
