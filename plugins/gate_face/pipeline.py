"""detect -> five landmarks -> similarity alignment -> embed -> L2 normalise, with quality gates.

The opencv and insightface detectors give the landmarks; the dlib family's detector gives boxes, and its
shape predictor the landmarks (a ``landmarks`` stage of its own in the timings)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from gate_face.align import ArcFaceGeometry
from gate_face.detectors import Detection, Detector
from gate_face.embedders import Embedder
from gate_face.quality import Quality, QualityLimits

Array = np.ndarray[Any, Any]
Status = Literal["ok", "bad_image", "no_face", "multiple_faces", "too_small", "blurry", "pose"]


@dataclass(frozen=True)
class FaceResult:
    """What one frame gave.  ``embedding`` is set only when ``status == "ok"``; ``crop``, the aligned face
    the embedder was (or would have been) given, whenever a face was aligned.  Neither ever leaves the
    controller."""

    status: Status
    faces: int = 0
    detect_score: float = 0.0
    quality: Quality | None = None
    failures: tuple[str, ...] = ()
    embedding: Array | None = field(default=None, repr=False)
    timings_ms: dict[str, float] = field(default_factory=dict)
    crop: Array | None = field(default=None, repr=False)


class Landmarker(Protocol):
    """Landmarks of the face in ``box`` (x, y, width, height), for detectors that give none."""

    def predict(self, image: Array, box: tuple[float, float, float, float]) -> Array: ...


class Geometry(Protocol):
    """How a family crops a face for its embedder and judges its quality from its landmarks."""

    def crop(self, image: Array, landmarks: Array) -> Array: ...

    def quality(self, landmarks: Array, crop: Array) -> Quality: ...


class FacePipeline:
    """One detector and one embedder (and, for a detector that gives no landmarks, a landmarker);
    ``process`` is synchronous and thread-confined (run it in an executor, one pipeline per worker
    thread)."""

    def __init__(self, detector: Detector, embedder: Embedder, *,
                 limits: QualityLimits | None = None,
                 multiple: Literal["largest", "refuse"] = "largest",
                 landmarker: Landmarker | None = None, geometry: Geometry | None = None) -> None:
        self.detector = detector
        self.embedder = embedder
        self.limits = limits or QualityLimits()
        self.multiple = multiple
        self.landmarker = landmarker
        self.geometry: Geometry = geometry or ArcFaceGeometry(embedder.size)

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
        landmarks = face.landmarks
        if self.landmarker is not None:
            landmarks = self.landmarker.predict(image, face.box)
            t = _lap(timings, "landmarks", t)
        crop = self.geometry.crop(image, landmarks)
        quality = self.geometry.quality(landmarks, crop)
        t = _lap(timings, "align", t)
        failures = tuple(quality.failures(self.limits))
        if failures:
            return FaceResult(failures[0], len(faces), face.score, quality,  # type: ignore[arg-type]
                              failures, timings_ms=timings, crop=crop)
        emb = self.embedder.embed(crop)
        _lap(timings, "embed", t)
        return FaceResult("ok", len(faces), face.score, quality, (), emb, timings, crop)


def _lap(timings: dict[str, float], name: str, start: float) -> float:
    now = time.perf_counter()
    timings[name] = (now - start) * 1e3
    return now
