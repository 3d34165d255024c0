"""Whole-frame reading: detect the plate and code regions, rectify each, recognise the crops, best first.

Blocking (numpy / onnxruntime / OpenCV): callers on the event loop run it in an executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gate_plate.detect import Corners, Detector, as_bgr
from gate_plate.recognise import CropRead, Recogniser

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class SceneRead(CropRead):
    """A recognised crop and where it was in the frame."""

    box: list[float]  # x0, y0, x1, y1 in frame pixels
    corners: Corners  # clockwise from the text's top-left
    detection_score: float


class PlateReader:
    """detect -> rectify -> recognise over one frame. Reads below the detector config's
    ``reader.min_confidence`` are dropped: they are what a region of clutter (a sign, a tare marking) or a
    fragment of a plate reads as."""

    def __init__(self, detector: Detector | None = None, recogniser: Recogniser | None = None) -> None:
        self.detector = detector if detector is not None else Detector()
        self.recogniser = recogniser if recogniser is not None else Recogniser()
        self.min_confidence = float(self.detector.config.get("reader", {}).get("min_confidence", 0.0))

    def read(self, frame_bgr: Array) -> list[SceneRead]:
        """Every plate and code read in ``frame_bgr``, best (detection score x read confidence) first; empty if
        none is found. ``ValueError`` on an empty or unusable image."""
        frame = as_bgr(frame_bgr)
        regions = self.detector.detect(frame)
        if not regions:
            return []
        crops = [self.detector.rectify(frame, region) for region in regions]
        reads = self.recogniser.read_batch(crops)
        out = [SceneRead(text=r.text, kind=r.kind, country=r.country, layout=r.layout, confidence=r.confidence,
                         box=region.box, corners=region.corners, detection_score=region.score)
               for r, region in zip(reads, regions, strict=True) if r.text and r.confidence >= self.min_confidence]
        return sorted(out, key=lambda s: -(s.confidence * s.detection_score))
