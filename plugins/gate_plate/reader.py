"""Whole-frame reading: detect the plate and code regions, rectify each, recognise the crops, best first.

Blocking (numpy / onnxruntime / OpenCV): callers on the event loop run it in an executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gate_plate.detect import Corners, Detector, Region, as_bgr
from gate_plate.formats import validate
from gate_plate.recognise import CropRead, Recogniser
from gatecore.api import valid_container_code

Array = np.ndarray[Any, Any]
CODE_LENGTH = 11  # an ISO 6346 code: owner code, category, serial number, check digit
GROUP_GAP = 1.5  # the space between a code's painted groups, in characters (a region grown misses none)
GROWN = (1.2, 2.4)  # characters a region is grown by along its text, at either end or half at each
SHRUNK = 0.7  # characters a region is shortened by, at either end
ACROSS = (0.15, -0.08)  # shares of its height a region is widened (or narrowed) by across its text, each side


@dataclass(frozen=True)
class SceneRead(CropRead):
    """A recognised crop and where it was in the frame."""

    box: list[float]  # x0, y0, x1, y1 in frame pixels
    corners: Corners  # clockwise from the text's top-left
    detection_score: float


class PlateReader:
    """detect -> rectify -> recognise over one frame. A read that is no valid plate or code of its region's
    kind, or is less confident than the detector config's ``reader.reread_below`` for that kind, is read again
    from the region's variations (:meth:`again`). Reads below ``reader.min_confidence`` are then dropped: they
    are what a region of clutter (a sign, a tare marking) or a fragment of a plate reads as; a container code
    whose check digit is right needs only ``reader.min_confidence_checked`` (a random text of its format passes
    the check one time in ten, and clutter seldom reads as one)."""

    def __init__(self, detector: Detector | None = None, recogniser: Recogniser | None = None) -> None:
        self.detector = detector if detector is not None else Detector()
        self.recogniser = recogniser if recogniser is not None else Recogniser()
        reader = self.detector.config.get("reader", {})
        self.min_confidence = float(reader.get("min_confidence", 0.0))
        self.min_confidence_checked = float(reader.get("min_confidence_checked", self.min_confidence))
        self.reread_below = {str(k): float(v) for k, v in reader.get("reread_below", {}).items()}

    def read(self, frame_bgr: Array) -> list[SceneRead]:
        """Every plate and code read in ``frame_bgr``, best (detection score x read confidence) first; empty if
        none is found. ``ValueError`` on an empty or unusable image."""
        frame = as_bgr(frame_bgr)
        regions = self.detector.detect(frame)
        if not regions:
            return []
        crops = [self.detector.rectify(frame, region) for region in regions]
        reads = self.recogniser.read_batch(crops, [region.kind for region in regions])
        for i, (r, region) in enumerate(zip(reads, regions, strict=True)):
            if r.text and not self.settled(r, region.kind):
                reads[i], regions[i] = self.again(frame, r, region)
        out = [SceneRead(text=r.text, kind=r.kind, country=r.country, layout=r.layout, confidence=r.confidence,
                         box=region.box, corners=region.corners, detection_score=region.score)
               for r, region in zip(reads, regions, strict=True) if r.text and r.confidence >= self.floor(r.text)]
        return sorted(out, key=lambda s: -(s.confidence * s.detection_score))

    def floor(self, text: str) -> float:
        """The confidence a read of ``text`` needs to be reported."""
        return self.min_confidence_checked if valid_container_code(text) else self.min_confidence

    def settled(self, read: CropRead, kind: str) -> bool:
        """Whether ``read`` stands as read: a valid plate or code of ``kind``, confident enough for it."""
        return validate(read.text, kind=kind) is None and read.confidence >= self.reread_below.get(kind, 0.0)

    def again(self, frame: Array, read: CropRead, region: Region) -> tuple[CropRead, Region]:
        """``read`` and ``region`` or, when it reads a valid plate or code of the region's kind with more
        confidence, the read of a variation of the region (:func:`variations`). The detector cuts the ends of
        a text most often wrong: the province character of a Chinese plate, the owner code or the boxed check
        digit of a container code painted apart, and fragments of the plate's edge or the wall beside it."""
        options = variations(region, len(read.text))
        again = self.recogniser.read_batch([self.detector.rectify(frame, o) for o in options],
                                           [region.kind] * len(options))
        valid = [(r, o) for r, o in zip(again, options, strict=True) if validate(r.text, kind=region.kind) is None]
        if validate(read.text, kind=region.kind) is None:
            valid.append((read, region))
        return max(valid, key=lambda v: v[0].confidence) if valid else (read, region)


def variations(region: Region, chars: int) -> list[Region]:
    """``region`` grown along its text by :data:`GROWN` characters (and, for a container code read short of
    its 11, by the characters missing, and again with a group's space) before it, after it or half each;
    shortened by :data:`SHRUNK` characters at either end; and widened or narrowed across it by :data:`ACROSS`.
    A character is the text's length over ``chars`` (at least 4)."""
    sizes = list(GROWN)
    if region.kind == "container" and 0 < chars < CODE_LENGTH:
        missing = CODE_LENGTH - chars
        sizes += [missing * 1.1, missing + GROUP_GAP]
    per = 1 / max(chars, 4)
    out = [grow(region, *side) for s in sizes for side in ((s * per, 0.0), (0.0, s * per), (s * per / 2,) * 2)]
    out += [grow(region, -SHRUNK * per, 0.0), grow(region, 0.0, -SHRUNK * per)]
    return out + [widen(region, share) for share in ACROSS]


def grow(region: Region, before: float, after: float) -> Region:
    """``region`` longer along its text by ``before`` and ``after`` times its length (a vertical code: along
    its column, top first); negative shares shorten it."""
    tl, tr, br, bl = np.asarray(region.corners, np.float64)
    if region.vertical:
        left, right = bl - tl, br - tr
        corners = (tl - before * left, tr - before * right, br + after * right, bl + after * left)
    else:
        top, bottom = tr - tl, br - bl
        corners = (tl - before * top, tr + after * top, br + after * bottom, bl - before * bottom)
    return _region(corners, region)


def widen(region: Region, share: float) -> Region:
    """``region`` wider across its text by ``share`` times its extent across it on each side (a vertical code:
    left and right of its column); a negative share narrows it."""
    tl, tr, br, bl = np.asarray(region.corners, np.float64)
    if region.vertical:
        top, bottom = tr - tl, br - bl
        corners = (tl - share * top, tr + share * top, br + share * bottom, bl - share * bottom)
    else:
        left, right = bl - tl, br - tr
        corners = (tl - share * left, tr - share * right, br + share * right, bl + share * left)
    return _region(corners, region)


def _region(corners: tuple[Array, ...], like: Region) -> Region:
    return Region(tuple((float(x), float(y)) for x, y in corners), like.kind, like.score)
