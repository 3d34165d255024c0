"""Plate and container-code regions in a camera frame (onnxruntime), and their rectification into crops.

The model (``models/detect/model.onnx``, trained by ``tools/plates/train_detect.py``) sees the frame
letterboxed into its input and gives, at stride ``stride``, a centre heat map per kind and the 4 corners of a
region as offsets from each cell. Everything inference needs (input size, stride, kinds, thresholds, the
rectification margins) is read from the ``config.json`` beside the model.

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
        self.stride, self.unit = int(cfg["stride"]), float(cfg["corner_unit"])
        self.kinds: list[str] = list(cfg["kinds"])
        self.threshold = float(cfg["score_threshold"])
        self.nms_iou = float(cfg["nms_iou"])
        self.max_regions = int(cfg["max_regions"])
        self.pad = tuple(float(p) for p in cfg["rectify"]["pad"])
        self.refine: dict[str, float] = {k: float(v) for k, v in cfg.get("refine", {}).items() if k != "note"}

    def _letterbox(self, frame: Array) -> tuple[Array, float]:
        h, w = frame.shape[:2]
        scale = min(self.width / w, self.height / h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        canvas = np.zeros((self.height, self.width, 3), np.uint8)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        canvas[:nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=interp)
        return canvas, scale

    def _run(self, canvas: Array) -> tuple[Array, Array]:
        blob = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], np.float32)
        heat, offsets = self._session.run(None, {self._input: blob})
        return heat[0], offsets[0]

    def heatmaps(self, frame_bgr: Array) -> tuple[Array, Array, float]:
        """The model's raw outputs for ``frame_bgr``: heat (K, h, w), corner offsets (8, h, w), and the scale
        from frame to model input."""
        canvas, scale = self._letterbox(as_bgr(frame_bgr))
        return (*self._run(canvas), scale)

    def detect(self, frame_bgr: Array) -> list[Region]:
        """Regions in ``frame_bgr`` (any size, BGR or grey), best score first; ``ValueError`` on a bad image.
        Each region found in the whole (downscaled) frame is looked at again in a window around it, at a scale
        where its text is ``refine.text_height`` px tall, for corners as precise as the frame allows."""
        frame = as_bgr(frame_bgr)
        heat, offsets, scale = self.heatmaps(frame)
        kept: list[tuple[float, int, Array]] = []
        for score, kind, quad in sorted(self._peaks(heat, offsets, self.threshold), key=lambda c: -c[0]):
            if all(_iou(quad, other) < self.nms_iou for _, _, other in kept):
                kept.append((score, kind, quad))
            if len(kept) == self.max_regions:
                break
        regions = []
        for score, kind, quad in kept:
            corners = self._refine(frame, kind, quad / scale) if self.refine else quad / scale
            regions.append(Region(tuple((float(x), float(y)) for x, y in corners), self.kinds[kind], score))
        return regions

    def _refine(self, frame: Array, kind: int, quad: Array) -> Array:
        """``quad`` (frame pixels) found again in a window around it where its text is ``text_height`` px tall
        (never enlarged past the frame's own resolution, never a window over ``max_window``)."""
        cfg = self.refine
        width, height = _quad_size(quad)
        extent = np.ptp(quad, axis=0) + 2 * height
        zoom = min(cfg["text_height"] / max(min(width, height), 1.0), cfg["max_zoom"],
                   *(cfg["max_window"] / np.maximum(extent, 1.0)))
        size = np.maximum(32, np.ceil(extent * zoom / 32) * 32).astype(int)
        origin = quad.mean(axis=0) - size / zoom / 2
        matrix = np.array([[zoom, 0, -origin[0] * zoom], [0, zoom, -origin[1] * zoom]], np.float64)
        small = frame if zoom >= 0.5 else cv2.resize(frame, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        if small is not frame:
            matrix[:, :2] *= 2
        window = cv2.warpAffine(small, matrix, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR)
        heat, offsets = self._run(window)
        centre = size / 2
        found = [(np.linalg.norm(q.mean(axis=0) - centre), q)
                 for _, _, q in self._peaks(heat[kind:kind + 1], offsets, self.threshold / 2)]
        if not found:
            return quad
        _, best = min(found, key=lambda f: f[0])
        if _iou(best / zoom + origin, quad) < 0.3:
            return quad
        return best / zoom + origin

    def _peaks(self, heat: Array, offsets: Array, threshold: float) -> list[tuple[float, int, Array]]:
        out = []
        kernel = np.ones((3, 3), np.uint8)
        for kind in range(heat.shape[0]):
            channel = heat[kind]
            peaks = (channel >= cv2.dilate(channel, kernel)) & (channel > threshold)
            for y, x in zip(*np.nonzero(peaks), strict=True):
                out.append((float(channel[y, x]), kind, self._corners(channel, offsets, int(y), int(x))))
        return out

    def _corners(self, channel: Array, offsets: Array, y: int, x: int) -> Array:
        """The corners predicted around a peak: the mean over its 3x3 neighbours that are at least half as hot,
        weighted by heat, each cell's offsets taken from its own centre."""
        h, w = channel.shape
        y0, y1, x0, x1 = max(0, y - 1), min(h, y + 2), max(0, x - 1), min(w, x + 2)
        weights = channel[y0:y1, x0:x1]
        weights = np.where(weights >= channel[y, x] / 2, weights, 0.0)
        gy, gx = np.mgrid[y0:y1, x0:x1]
        pts = offsets[:, y0:y1, x0:x1].reshape(4, 2, *weights.shape) * self.unit
        pts[:, 0] += (gx + 0.5) * self.stride
        pts[:, 1] += (gy + 0.5) * self.stride
        return np.asarray((pts * weights).sum(axis=(2, 3)) / weights.sum(), np.float64)

    def rectify(self, frame_bgr: Array, region: Region) -> Array:
        """The region warped upright (text left to right, top row first), with the configured margin."""
        return rectify(frame_bgr, region.corners, self.pad)


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
