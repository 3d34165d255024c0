"""Whole-frame reading: detect the plate and code regions, rectify each, recognise the crops, best first.

Blocking (numpy / onnxruntime / OpenCV): callers on the event loop run it in an executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
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
FIT_FLOOR = 0.3  # a line across a text has strokes when it stands this far from the crop's floor to its peak
FIT_MARGIN = 0.1  # what a fitted region keeps beyond the text's strokes, as a share of their extent, each side


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
    the check one time in ten, and clutter seldom reads as one). The corners reported are the region's fitted
    across the text to its strokes (:meth:`fitted`)."""

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
        kept = [(r, region) for r, region in zip(reads, regions, strict=True)
                if r.text and r.confidence >= self.floor(r.text)]
        out = [SceneRead(text=r.text, kind=r.kind, country=r.country, layout=r.layout, confidence=r.confidence,
                         box=fit.box, corners=fit.corners, detection_score=region.score)
               for r, region in kept for fit in [self.fitted(frame, region, r.layout)]]
        return sorted(out, key=lambda s: -(s.confidence * s.detection_score))

    def fitted(self, frame: Array, region: Region, layout: str) -> Region:
        """``region`` narrowed across its text to the text's strokes (:func:`across_fit`), where the detector's
        mask, at a quarter of its input's resolution, leaves it up to twice as wide as a thin text (a vertical
        code one glyph wide). A two-row plate is left as found: one row's strokes can stand well above the other's,
        and its fit kept one row (tuning scenes, seed 5: VN two rows read 90.4 -> 84.6 %)."""
        if layout == "two_row":
            return region
        pad = self.detector.pad["tall" if region.vertical else "wide"]
        return across_fit(self.detector.rectify(frame, region), region, pad[0] if region.vertical else pad[1])

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


def across_fit(crop: Array, region: Region, pad: float) -> Region:
    """``region`` narrowed across its text to where ``crop`` (its rectification, with margins of ``pad`` times
    its shorter side across the text) has strokes: the profile, line by line across the text, of the mean
    gradient along it (a wall's ribs and a plate's rim run along the text and barely count), smoothed; from the
    first to the last line that stands :data:`FIT_FLOOR` of the way from its floor (10th percentile) to its peak
    (a glyph's middle, where a 2 or a 5 has few strokes along the text, is bridged), and :data:`FIT_MARGIN` of
    that beyond. Never wider than ``region``; kept as found when the profile is flat or the lines found are
    under a fifth of it."""
    grey = (cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop).astype(np.float32)
    along = 0 if region.vertical else 1
    profile = np.abs(np.diff(grey, axis=along)).mean(axis=along)
    n = len(profile)
    if n < 6:
        return region
    k = max(1, n // 12) | 1
    profile = np.convolve(profile, np.ones(k) / k, mode="same")
    floor, peak = float(np.percentile(profile, 10)), float(profile.max())
    if peak <= floor:
        return region
    on = np.flatnonzero(profile >= floor + FIT_FLOOR * (peak - floor))
    a, b = int(on[0]), int(on[-1])
    length, across = region.size[::-1] if region.vertical else region.size
    margin = pad * min(length, across)
    extra = FIT_MARGIN * (b + 1 - a) / n
    start = max(0.0, (a / n * (across + 2 * margin) - margin) / across - extra)
    end = min(1.0, ((b + 1) / n * (across + 2 * margin) - margin) / across + extra)
    return narrowed(region, start, end) if end - start >= 0.2 else region


def narrowed(region: Region, start: float, end: float) -> Region:
    """``region`` cut across its text to the shares ``start`` to ``end`` of its extent across it (from its top
    edge down; a vertical code's from its left edge)."""
    tl, tr, br, bl = np.asarray(region.corners, np.float64)
    if region.vertical:
        top, bottom = tr - tl, br - bl
        corners = (tl + start * top, tl + end * top, bl + end * bottom, bl + start * bottom)
    else:
        left, right = bl - tl, br - tr
        corners = (tl + start * left, tr + start * right, tr + end * right, tl + end * left)
    return _region(corners, region)


def _region(corners: tuple[Array, ...], like: Region) -> Region:
    return Region(tuple((float(x), float(y)) for x, y in corners), like.kind, like.score)
