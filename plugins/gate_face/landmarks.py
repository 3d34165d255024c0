"""dlib's 5-point shape predictor, run with numba: a cascade of regression-tree forests over
pixel-difference features (Kazemi and Sullivan, "One millisecond face alignment with an ensemble of
regression trees", 2014), as ``dlib::shape_predictor`` runs it.

The model is the ``.npz`` that ``gatecore face models install`` writes from dlib's
``shape_predictor_5_face_landmarks.dat``.  Each cascade level maps its feature pixels (an anchor
landmark plus an offset, in the mean shape's box-normalised coordinates) through the similarity from
the mean shape to the current one and the box, reads their grey levels (``(r + g + b) // 3``, 0 outside
the image) and adds the leaf of every tree the pixel differences lead to.  Landmarks come out, as dlib
gives them, rounded to whole pixels: for the 5-point model, the two corners of the eye on the image's
right (outer, inner), those of the eye on its left (outer, inner), and the base of the nose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from gate_face.models import ModelError

Array = np.ndarray[Any, Any]
_KEYS = ("initial", "idx1", "idx2", "thresh", "leaves", "anchor", "deltas")


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _similarity(src: Any, dst: Any) -> tuple[float, float]:
    """(a, b) of the least-squares similarity [[a, -b], [b, a]] from point set src to dst (its shift is
    not needed): the closed form of Umeyama's method in 2-D."""
    n = src.shape[0]
    msx = msy = mdx = mdy = 0.0
    for i in range(n):
        msx += src[i, 0]
        msy += src[i, 1]
        mdx += dst[i, 0]
        mdy += dst[i, 1]
    msx, msy, mdx, mdy = msx / n, msy / n, mdx / n, mdy / n
    var = dot = cross = 0.0
    for i in range(n):
        sx, sy = src[i, 0] - msx, src[i, 1] - msy
        dx, dy = dst[i, 0] - mdx, dst[i, 1] - mdy
        var += sx * sx + sy * sy
        dot += sx * dx + sy * dy
        cross += sx * dy - sy * dx
    if var == 0.0:
        return 1.0, 0.0
    return dot / var, cross / var


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _grey(image: Any, x: int, y: int) -> np.float32:
    if x < 0 or y < 0 or y >= image.shape[0] or x >= image.shape[1]:
        return np.float32(0.0)
    return np.float32((np.int32(image[y, x, 0]) + np.int32(image[y, x, 1]) + np.int32(image[y, x, 2])) // 3)


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _predict(image: Any, box: Any, initial: Any, idx1: Any, idx2: Any, thresh: Any, leaves: Any,
             anchor: Any, deltas: Any) -> Any:
    left, top, right, bottom = box[0], box[1], box[2], box[3]
    sx, sy = right - left, bottom - top  # box-normalised (0..1) to image pixels
    parts = initial.shape[0] // 2
    ref = initial.reshape(parts, 2)
    shape = initial.copy()
    feats = np.empty(anchor.shape[1], np.float32)
    splits = idx1.shape[2]
    for level in range(idx1.shape[0]):
        a, b = _similarity(ref, shape.reshape(parts, 2))
        a32, b32 = np.float32(a), np.float32(b)
        for i in range(anchor.shape[1]):
            k = anchor[level, i]
            dx, dy = deltas[level, i, 0], deltas[level, i, 1]
            px = np.float32(a32 * dx - b32 * dy) + shape[2 * k]
            py = np.float32(b32 * dx + a32 * dy) + shape[2 * k + 1]
            feats[i] = _grey(image, int(np.floor(left + sx * np.float64(px) + 0.5)),
                             int(np.floor(top + sy * np.float64(py) + 0.5)))
        for t in range(idx1.shape[1]):
            node = 0
            while node < splits:
                if feats[idx1[level, t, node]] - feats[idx2[level, t, node]] > thresh[level, t, node]:
                    node = 2 * node + 1
                else:
                    node = 2 * node + 2
            shape += leaves[level, t, node - splits]
    out = np.empty((parts, 2), np.float64)
    for j in range(parts):
        out[j, 0] = np.floor(left + sx * np.float64(shape[2 * j]) + 0.5)
        out[j, 1] = np.floor(top + sy * np.float64(shape[2 * j + 1]) + 0.5)
    return out


class ShapePredictor:
    """``predict(image, box)``: landmarks (parts, 2) in whole pixels of a face in ``box``."""

    def __init__(self, model: Path) -> None:
        try:
            with np.load(model, allow_pickle=False) as z:
                arrays = {k: np.ascontiguousarray(z[k]) for k in _KEYS}
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"cannot load {model}: {exc}") from exc
        self._arrays = (arrays["initial"].astype(np.float32), arrays["idx1"].astype(np.int64),
                        arrays["idx2"].astype(np.int64), arrays["thresh"].astype(np.float32),
                        arrays["leaves"].astype(np.float32), arrays["anchor"].astype(np.int64),
                        arrays["deltas"].astype(np.float32))
        self.parts = arrays["initial"].size // 2

    def predict(self, image: Array, box: tuple[float, float, float, float]) -> Array:
        """``image``: (h, w, 3) uint8 (any channel order); ``box``: x, y, width, height of dlib's
        inclusive rectangle (left, top, left + width - 1, top + height - 1)."""
        x, y, w, h = box
        rect = np.array([x, y, x + w - 1, y + h - 1], np.float64)
        out: Array = _predict(np.ascontiguousarray(image), rect, *self._arrays)
        return out
