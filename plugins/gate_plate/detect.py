"""Plate and container-code regions in a camera frame (onnxruntime), and their rectification into crops.

The model (``models/detect/model.onnx``, trained by ``tools/plates/train_detect.py``) sees the frame
letterboxed into its input and gives, at stride ``stride``, the probability of each cell being in the text
region of a plate or of a container code. Each connected region's outline is fitted with a quadrilateral (a
line through each side, corners where they meet), which follows a tilted plate or a code seen in perspective;
then each region is looked at again in a window where its text is ``refine.text_height`` px tall, for corners as
precise as the frame allows. Everything inference needs is read from the ``config.json`` beside the model.

Blocking (numpy / onnxruntime / OpenCV): callers on the event loop run it in an executor.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

Array = np.ndarray[Any, Any]
Corners = tuple[tuple[float, float], ...]
DEFAULT_FOLDER = Path(__file__).resolve().parent / "models" / "detect"


@dataclass(frozen=True)
class Region:
    """A detected plate or container code: 4 corners clockwise from the text's top-left, in frame pixels."""

    corners: Corners
    kind: str  # "plate" or "container"
    score: float

    @property
    def box(self) -> list[float]:
        """The axis-aligned bounds (x0, y0, x1, y1) of the corners."""
        xs, ys = [p[0] for p in self.corners], [p[1] for p in self.corners]
        return [min(xs), min(ys), max(xs), max(ys)]

    @property
    def vertical(self) -> bool:
        """Taller than wide along the text: a container code painted one character per line."""
        width, height = self.size
        return height > width

    @property
    def size(self) -> tuple[float, float]:
        """Mean width (along the text) and height of the quadrilateral, in frame pixels."""
        return _quad_size(np.asarray(self.corners, np.float64))


def as_bgr(frame: object) -> Array:
    """``frame`` as a contiguous 8-bit BGR image, or a ``ValueError`` that says what is wrong with it."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"an image must be a numpy array, not {type(frame).__name__} (unreadable or corrupt file?)")
    if frame.size == 0 or frame.ndim not in (2, 3) or min(frame.shape[:2]) < 8:
        raise ValueError(f"an empty or degenerate image (shape {frame.shape})")
    if frame.dtype != np.uint8:
        raise ValueError(f"an image must be 8-bit, not {frame.dtype}")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    channels = frame.shape[2]
    if channels == 1:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if channels != 3:
        raise ValueError(f"an image has 1, 3 or 4 channels, not {channels}")
    return np.ascontiguousarray(frame)


def decode_image(data: bytes) -> Array:
    """An encoded image (JPEG, PNG, ...) as BGR; ``ValueError`` if it is empty or cannot be decoded."""
    if not data:
        raise ValueError("an empty image file")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable image (corrupt or unsupported format)")
    return as_bgr(image)


def _quad_size(q: Array) -> tuple[float, float]:
    width = (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    height = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
    return float(width), float(height)


def _iou(a: Array, b: Array) -> float:
    inter, _ = cv2.intersectConvexConvex(a.astype(np.float32), b.astype(np.float32))
    union = cv2.contourArea(a.astype(np.float32)) + cv2.contourArea(b.astype(np.float32)) - inter
    return float(inter / union) if union > 0 else 0.0


def order_corners(quad: Array) -> Array:
    """The 4 points clockwise (on screen) from the top-left one (smallest x + y, after scaling both axes to the
    region's extent, so a tall column and a wide plate alike), for regions tilted by less than 45 degrees."""
    q = np.asarray(quad, np.float64).reshape(4, 2)
    centre = q.mean(axis=0)
    spread = np.maximum(np.ptp(q, axis=0), 1e-6)
    rel = (q - centre) / spread
    clockwise = np.argsort(np.arctan2(rel[:, 1], rel[:, 0]))
    start = int(np.argmin(rel[clockwise].sum(axis=1)))
    return q[np.roll(clockwise, -start)]


def _intersect(a: Array, b: Array) -> Array | None:
    """Where the lines (point, direction) ``a`` and ``b`` cross; None if they are (nearly) parallel."""
    (p, d), (q, e) = a, b
    det = d[0] * e[1] - d[1] * e[0]
    if abs(det) < 1e-6:
        return None
    t = ((q[0] - p[0]) * e[1] - (q[1] - p[1]) * e[0]) / det
    return np.asarray(p + t * d, np.float64)


def _side_lines(pts: Array, quad: Array, slack: float) -> list[tuple[Array, Array]] | None:
    """A line (point, direction) through the outline points along each side of ``quad``: those in the middle 70 %
    of the side and within ``slack`` of its length of it, and never a third of the way across (the side's own
    line if too few are)."""
    lines = []
    for i in range(4):
        a, d = quad[i], quad[(i + 1) % 4] - quad[i]
        length, across = float(np.linalg.norm(d)), float(np.linalg.norm(quad[(i + 2) % 4] - quad[(i + 1) % 4]))
        if length < 1e-6:
            return None
        t = (pts - a) @ d / length**2
        off = np.abs((pts - a) @ np.array([-d[1], d[0]]) / length)
        near = pts[(t > 0.15) & (t < 0.85) & (off < max(1.5, min(slack * length, across / 3)))]
        if len(near) < 2:
            lines.append((a, d / length))
            continue
        vx, vy, x0, y0 = cv2.fitLine(near.astype(np.float32), cv2.DIST_L2, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)))
    return lines


def fit_quad(contour: Array) -> Array:  # points (N, 2) or (N, 1, 2) of one or several outlines
    """A quadrilateral through an outline: starting from its minimum-area rectangle, each side's points (the
    middle of it, clear of the rounded corners) get a fitted line, the corners are where those lines meet, and
    once more from that quadrilateral; so a plate seen in perspective keeps its trapezoid."""
    pts = contour.reshape(-1, 2).astype(np.float64)
    rect = order_corners(cv2.boxPoints(cv2.minAreaRect(contour.astype(np.float32))))
    quad = rect
    for slack in (0.15, 0.06):
        lines = _side_lines(pts, quad, slack)
        corners = [_intersect(lines[i - 1], lines[i]) for i in range(4)] if lines else [None]
        if any(c is None for c in corners):
            return rect
        quad = order_corners(np.array(corners))
    reach = max(2.0, 0.3 * min(_quad_size(rect)))
    return rect if np.linalg.norm(quad - rect, axis=1).max() > reach else quad


class Detector:
    """The shipped (or a given) detector model folder: ``model.onnx`` + ``config.json``."""

    def __init__(self, folder: Path | None = None, threads: int = 1) -> None:
        self.folder = Path(folder) if folder is not None else DEFAULT_FOLDER
        try:
            self.config: dict[str, Any] = json.loads((self.folder / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the detector config {self.folder / 'config.json'}: {exc}") from exc
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(self.folder / "model.onnx"), opts,
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        cfg = self.config
        self.width, self.height = int(cfg["input"]["width"]), int(cfg["input"]["height"])
        self.stride = int(cfg["stride"])
        self.kinds: list[str] = list(cfg["kinds"])
        self.mask_threshold = float(cfg["mask_threshold"])
        self.threshold = float(cfg["score_threshold"])
        self.min_area = int(cfg["min_area"])
        self.max_regions = int(cfg["max_regions"])
        self.pad = {shape: (float(x), float(y)) for shape, (x, y) in cfg["rectify"]["pad"].items()}
        self.refine: dict[str, float] = {k: float(v) for k, v in cfg.get("refine", {}).items() if k != "note"}

    def _letterbox(self, frame: Array) -> tuple[Array, float]:
        h, w = frame.shape[:2]
        scale = min(self.width / w, self.height / h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        canvas = np.zeros((self.height, self.width, 3), np.uint8)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        canvas[:nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=interp)
        return canvas, scale

    def _run(self, canvas: Array) -> Array:
        blob = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], np.float32)
        return np.asarray(self._session.run(None, {self._input: blob})[0][0])

    def masks(self, frame_bgr: Array) -> tuple[Array, float]:
        """The model's output for ``frame_bgr``: per kind, each cell's probability of being text of that kind
        (K, h, w), and the scale from frame to model input."""
        canvas, scale = self._letterbox(as_bgr(frame_bgr))
        return self._run(canvas), scale

    def detect(self, frame_bgr: Array) -> list[Region]:
        """Regions in ``frame_bgr`` (any size, BGR or grey), best score first; ``ValueError`` on a bad image."""
        frame = as_bgr(frame_bgr)
        probs, scale = self.masks(frame)
        found = sorted(self._regions(probs), key=lambda r: -r[0])[: self.max_regions]
        regions = []
        for score, kind, outline in found:
            quad = fit_quad(outline) / scale
            corners = self._refine(frame, kind, quad) if self.refine else quad
            if min(_quad_size(corners)) >= 2 and cv2.contourArea(corners.astype(np.float32)) >= 8:
                regions.append(Region(tuple((float(x), float(y)) for x, y in corners), self.kinds[kind], score))
        return regions

    def _regions(self, probs: Array, kinds: Sequence[int] | None = None) -> list[tuple[float, int, Array]]:
        """(score, kind, outline points in input pixels) of each region of the masks: cells over the mask
        threshold, grouped across one-cell gaps (the spaces of a container code), their probabilities enlarged
        to input resolution and cut at the threshold again."""
        out = []
        for kind in range(probs.shape[0]) if kinds is None else kinds:
            channel = probs[kind]
            cells = (channel > self.mask_threshold).astype(np.uint8)
            grouped = cv2.dilate(cells, np.ones((3, 3), np.uint8))
            count, labels, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
            for i in range(1, count):
                member = (labels == i) & (cells > 0)
                if member.sum() < self.min_area:
                    continue
                score = float(channel[member].mean())
                outline = self._outline(channel, labels == i, stats[i])
                if score >= self.threshold and outline is not None:
                    out.append((score, kind, outline))
        return out

    def _outline(self, channel: Array, group: Array, stat: Array) -> Array | None:
        """The outline points (input pixels) of one group of cells: its probabilities enlarged to input
        resolution and cut at the mask threshold, every part's contour together."""
        x, y, w, h = (int(v) for v in stat[:4])
        roi = np.where(group[y:y + h, x:x + w], channel[y:y + h, x:x + w], 0.0).astype(np.float32)
        s = self.stride
        big = cv2.resize(roi, (w * s, h * s), interpolation=cv2.INTER_LINEAR)
        contours, _ = cv2.findContours((big > self.mask_threshold).astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)
        if not contours:
            return None
        return np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.float64) + 0.5 + (x * s, y * s)

    def _refine(self, frame: Array, kind: int, quad: Array) -> Array:
        """``quad`` (frame pixels) found again in a window around it where its text is ``text_height`` px tall
        (never enlarged past the frame's own resolution, never a window over ``max_window``): the outlines of
        the window's regions whose centres lie in it, fitted together."""
        cfg = self.refine
        width, height = _quad_size(quad)
        extent = np.ptp(quad, axis=0) + 2 * min(width, height) + 16
        zoom = min(cfg["text_height"] / max(min(width, height), 1.0), cfg["max_zoom"],
                   *(cfg["max_window"] / np.maximum(extent, 1.0)))
        size = np.maximum(32, np.ceil(extent * zoom / 32) * 32).astype(int)
        origin = quad.mean(axis=0) - size / zoom / 2
        matrix = np.array([[zoom, 0, -origin[0] * zoom], [0, zoom, -origin[1] * zoom]], np.float64)
        source = frame
        if zoom < 0.5:  # halve first, so that the warp never shrinks by more than 2 (aliasing)
            source = cv2.resize(frame, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
            matrix[:, :2] *= 2
        window = cv2.warpAffine(source, matrix, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR)
        inside = ((quad - quad.mean(axis=0)) * 1.2 + quad.mean(axis=0) - origin) * zoom  # a little grown
        parts = [pts for _, _, pts in self._regions(self._run(window), [kind])
                 if cv2.pointPolygonTest(inside.astype(np.float32), tuple(map(float, pts.mean(axis=0))), False) >= 0]
        if not parts:
            return quad
        again = fit_quad(np.concatenate(parts)) / zoom + origin
        if max(_quad_size(again)) < cfg.get("min_kept", 0.0) * max(width, height):
            return quad  # found again shorter: a piece of the text (a group of a code) lost in the window
        return again if _iou(again, quad) >= 0.3 else quad

    def rectify(self, frame_bgr: Array, region: Region) -> Array:
        """The region warped upright (text left to right, top row first), with the margins configured for its
        shape ("wide": plates and horizontal codes, "tall": vertical codes)."""
        return rectify(frame_bgr, region.corners, self.pad["tall" if region.vertical else "wide"])


def rectify(frame_bgr: Array, corners: Sequence[Sequence[float]], pad: Sequence[float] = (0.0, 0.0)) -> Array:
    """The quadrilateral ``corners`` (clockwise from the text's top-left) of ``frame_bgr`` warped to an upright
    crop of its own mean width and height, with margins of ``pad`` (left/right, top/bottom) times its shorter
    side, so that a slightly short detection keeps the edge characters."""
    frame = as_bgr(frame_bgr)
    quad = np.asarray(corners, np.float64).reshape(4, 2)
    width, height = _quad_size(quad)
    if width < 1 or height < 1:
        raise ValueError(f"a degenerate region ({width:.1f} x {height:.1f} px)")
    mx, my = pad[0] * min(width, height), pad[1] * min(width, height)
    dst = np.array([[mx, my], [mx + width, my], [mx + width, my + height], [mx, my + height]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    size = (max(2, round(width + 2 * mx)), max(2, round(height + 2 * my)))
    return cv2.warpPerspective(frame, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
