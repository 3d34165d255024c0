"""dlib's MMOD CNN face detector (``mmod_human_face_detector.dat`` converted to ONNX), run as dlib runs
it: the image and its pyramid (each level 5/6 of the one before, bilinear with aligned corners) tiled
into one image, the network's score map over it, every cell scoring above the threshold taken back to
the image as the detection window (80 x 80 at its level), then non-maximum suppression.

``levels`` picks the pyramid levels that are tiled: all of them (``None``) is what dlib does; a lane
knows the size of the faces it sees and tiles only the levels that find those (see :func:`lane_levels`),
which costs a fraction of the time.  The tiling (:func:`tile_layout`), the window mapping and the
overlap test follow dlib's ``compute_tiled_image_pyramid_details``, ``tiled_pyramid_to_image`` and
``test_box_overlap``; the network's geometry and options come from the model's metadata.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from gate_face.detectors import Detection, session
from gate_face.models import ModelError

Array = np.ndarray[Any, Any]
Rect = tuple[int, int, int, int]  # dlib's inclusive left, top, right, bottom
NO_LANDMARKS = np.zeros((0, 2), np.float64)


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def resize_bilinear(src: Any, dst: Any) -> None:
    """dlib's ``resize_image`` (bilinear, corners aligned: output (r, c) samples the input at
    ``r * (in_rows - 1) / (rows - 1)``, ``c * (in_cols - 1) / (cols - 1)``) of the planar float32 image
    ``src`` (ch, h, w) into ``dst`` (ch, rows, cols), which may be a view into a larger array."""
    ch, h, w = src.shape
    rows, cols = dst.shape[1], dst.shape[2]
    ys = (h - 1) / max(rows - 1, 1)
    xs = (w - 1) / max(cols - 1, 1)
    left = np.empty(cols, np.int64)
    right = np.empty(cols, np.int64)
    fx = np.empty(cols, np.float32)
    for c in range(cols):
        x = c * xs
        left[c] = int(np.floor(x))
        right[c] = min(left[c] + 1, w - 1)
        fx[c] = x - left[c]
    for k in range(ch):
        for r in range(rows):
            y = r * ys
            top = int(np.floor(y))
            bottom = min(top + 1, h - 1)
            fy = np.float32(y - top)
            s_top, s_bottom, out = src[k, top], src[k, bottom], dst[k, r]
            for c in range(cols):
                a = s_top[left[c]] + fx[c] * (s_top[right[c]] - s_top[left[c]])
                b = s_bottom[left[c]] + fx[c] * (s_bottom[right[c]] - s_bottom[left[c]])
                out[c] = a + fy * (b - a)


def pyramid_sizes(rows: int, cols: int, rate: float = 5 / 6, min_rows: int = 5) -> list[tuple[int, int]]:
    """(rows, cols) of every pyramid level, the image first (dlib's ``find_pyramid_down_output_image_size``)."""
    sizes = [(rows, cols)]
    while True:
        rows, cols = math.floor(rate * rows), math.floor(rate * cols)
        if rows * cols == 0 or rows < min_rows:
            return sizes
        sizes.append((rows, cols))


def tile_layout(sizes: list[tuple[int, int]], padding: int, outer: int) -> tuple[list[Rect], int, int]:
    """Where each image of ``sizes`` (largest first) goes in the tiled image, and its (rows, cols): the
    first in a column on the left with those that follow, the rest back up the right-hand side.  Images
    that would overlap the first are left out (fewer rects than sizes)."""
    if not sizes:
        return [], 0, 0
    h0, w0 = sizes[0]
    total = sum(h + padding for h, _ in sizes) - 2 * padding
    height, prev_width = 0, 0
    for h, w in sizes:
        if w <= w0 - prev_width - padding and (height - h0) * 2 >= total - h0:
            break
        height += h + padding
        prev_width = w
    height -= padding
    rects: list[Rect] = []
    y = outer
    while y < height + outer and len(rects) < len(sizes):
        h, w = sizes[len(rects)]
        rects.append((outer, y, outer + w - 1, y + h - 1))
        y += h + padding
    y -= padding
    first = rects[0]
    while len(rects) < len(sizes):
        h, w = sizes[len(rects)]
        rect = (outer + w0 - w, y - h, outer + w0 - 1, y - 1)
        if _area(_intersect(first, rect)):
            break
        rects.append(rect)
        y -= h + padding
    return rects, height + 2 * outer, w0 + 2 * outer


def _intersect(a: Rect, b: Rect) -> Rect:
    return max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])


def _area(r: Rect) -> int:
    return 0 if r[2] < r[0] or r[3] < r[1] else (r[2] - r[0] + 1) * (r[3] - r[1] + 1)


def overlaps(a: Rect, b: Rect, iou: float, covered: float) -> bool:
    """dlib's ``test_box_overlap``: the intersection against the box around both (not their union), or
    against either box."""
    inner = _area(_intersect(a, b))
    if inner == 0:
        return False
    outer = _area((min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])))
    return inner / outer > iou or inner / _area(a) > covered or inner / _area(b) > covered


def _lround(v: float) -> int:
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def _nearest(rects: list[Rect], x: int, y: int) -> int:
    best, best_d = 0, math.inf
    for i, (left, top, right, bottom) in enumerate(rects):
        if left <= x <= right and top <= y <= bottom:
            return i
        d = math.hypot(min(max(x, left), right) - x, min(max(y, top), bottom) - y)
        if d < best_d:
            best, best_d = i, d
    return best


@dataclass(frozen=True)
class MmodGeometry:
    stride: int
    offset: int
    window: tuple[int, int]
    mean_rgb: tuple[float, float, float]
    nms_iou: float
    nms_covered: float
    padding: int
    outer_padding: int
    rate: float

    @classmethod
    def from_metadata(cls, meta: dict[str, str], model: Path) -> MmodGeometry:
        try:
            m = json.loads(meta["gatecore.mmod"])
            if len(m["windows"]) != 1:
                raise ValueError("only one detection window is supported")
            return cls(int(m["stride"]), int(m["offset"]), (int(m["windows"][0][0]), int(m["windows"][0][1])),
                       tuple(float(v) for v in m["mean_rgb"]),  # type: ignore[arg-type]
                       float(m["nms_iou"]), float(m["nms_covered"]), int(m["pyramid_padding"]),
                       int(m["pyramid_outer_padding"]), float(m["pyramid_rate"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{model} is not an MMOD model written by gatecore face models install "
                             f"(metadata: {exc})") from exc


def lane_levels(face_px: tuple[float, float], window: int = 80, rate: float = 5 / 6, step: int = 2) -> list[int]:
    """Pyramid levels that find faces of ``face_px`` (smallest, largest box side, pixels).  Level k sees
    faces near ``window / rate**k``; taking every ``step``-th level, each stands for the faces within
    ``rate**(-step / 2)`` of its own size: from the first level whose span reaches the smallest face to
    the first whose span reaches the largest."""
    lo, hi = face_px
    if not 0 < lo <= hi:
        raise ValueError("face_px must be (smallest, largest) with 0 < smallest <= largest")
    growth = 1 / rate
    span = growth ** (step / 2)
    levels = [max(0, math.ceil(math.log(lo / window, growth) - step / 2))]
    while window * growth ** levels[-1] * span < hi:
        levels.append(levels[-1] + step)
    return levels


class MmodDetector:
    """``detect(image)`` on a BGR (or, with ``rgb=True``, RGB) uint8 image: faces as dlib's
    ``cnn_face_detection_model_v1`` finds them (boxes are dlib's inclusive rectangles; no landmarks)."""

    def __init__(self, model: Path, *, levels: list[int] | None = None, threshold: float = 0.0,
                 threads: int = 1) -> None:
        self._sess = session(model, threads)
        self.geometry = MmodGeometry.from_metadata(self._sess.get_modelmeta().custom_metadata_map, model)
        self.levels = levels
        self.threshold = threshold

    def detect(self, image: Array, rgb: bool = False) -> list[Detection]:
        scored = self.detect_rects(image, rgb)
        return [Detection((float(r[0]), float(r[1]), float(r[2] - r[0] + 1), float(r[3] - r[1] + 1)),
                          NO_LANDMARKS, s) for r, s in scored]

    def detect_rects(self, image: Array, rgb: bool = False) -> list[tuple[Rect, float]]:
        g = self.geometry
        tiled, rects, levels = self._tiled(image if rgb else image[:, :, ::-1])
        if not rects:
            return []
        scores = np.asarray(self._sess.run(["scores"], {"image": tiled})[0])[0, 0]
        rows, cols = np.nonzero(scores > self.threshold)
        found: list[tuple[Rect, float]] = []
        half_w, half_h = (g.window[0] - 1) / 2, (g.window[1] - 1) / 2
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            x, y = g.stride * c + g.offset, g.stride * r + g.offset
            i = _nearest(rects, x, y)
            box = [x - half_w - rects[i][0], y - half_h - rects[i][1], x + half_w - rects[i][0],
                   y + half_h - rects[i][1]]
            for _ in range(levels[i]):
                box = [v / g.rate + 0.3 for v in box]
            rect = (_lround(box[0]), _lround(box[1]), _lround(box[2]), _lround(box[3]))
            found.append((rect, float(scores[r, c])))
        found.sort(key=lambda d: -d[1])
        kept: list[tuple[Rect, float]] = []
        for rect, score in found:
            if not any(overlaps(k, rect, g.nms_iou, g.nms_covered) for k, _ in kept):
                kept.append((rect, score))
        return kept

    def _tiled(self, rgb: Array) -> tuple[Array, list[Rect], list[int]]:
        """The tiled pyramid as the network's input (1, 3, H, W), where each level went, and its level.
        Every level down to the last wanted is made (each from the one before, as dlib does); only the
        wanted ones are tiled."""
        g = self.geometry
        sizes = pyramid_sizes(rgb.shape[0], rgb.shape[1], g.rate)
        wanted = list(range(len(sizes))) if self.levels is None else [k for k in self.levels if k < len(sizes)]
        if not wanted:
            return np.zeros((1, 3, 0, 0), np.float32), [], []
        rects, rows, cols = tile_layout([sizes[k] for k in wanted], g.padding, g.outer_padding)
        wanted = wanted[:len(rects)]
        canvas = np.empty((1, 3, rows, cols), np.float32)
        canvas[0] = np.array(g.mean_rgb, np.float32)[:, None, None]  # the normalised image is 0 there, as in dlib
        place = {k: canvas[0, :, r[1]:r[3] + 1, r[0]:r[2] + 1] for k, r in zip(wanted, rects, strict=True)}
        level = np.ascontiguousarray(rgb.transpose(2, 0, 1), np.float32)
        if 0 in place:
            place[0][:] = level
        for k in range(1, wanted[-1] + 1):
            out = place[k] if k in place else np.empty((3, *sizes[k]), np.float32)
            resize_bilinear(level, out)
            level = out
        return canvas, rects, wanted
