"""Crops like a detector's rectified ones: a rendered plate or code, cut out along its text corners with the
errors a detector makes (margin, corner jitter, residual rotation), at a random resolution, degraded.

This is the recogniser's training and evaluation data; ``make_crop(sample, rng)`` is one crop.
"""

from __future__ import annotations

import cv2
import numpy as np

from tools.plates import degrade
from tools.plates.render import Rendered, render
from tools.plates.texts import PlateText

Rng = np.random.Generator


def _surround(rendered: Rendered, rng: Rng, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """The plate on a plain surround (bumper, wall) ``pad`` px wide; text corners shifted to match."""
    color = tuple(int(v) for v in rng.integers(0, 256, 3))
    canvas = cv2.copyMakeBorder(rendered.image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=color)
    return canvas, np.asarray(rendered.text_corners, np.float32) + pad


def _detector_quad(corners: np.ndarray, rng: Rng, vertical: bool) -> np.ndarray:
    """The text quad as the detector's rectification hands it over (measured on held-out scenes, in units of
    the text's short side): each end along the text on its own, from a little inside the text (an edge
    character cut) to a wide margin; a thin margin across it, sometimes a little short; each corner off by a
    little (residual perspective and shear), and a small residual rotation."""
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    short = (x1 - x0) if vertical else (y1 - y0)
    along = rng.uniform(-0.12, 0.5, 2) * short
    across = rng.uniform(-0.06, 0.3, 2) * short
    (left, right), (top, bottom) = (across, along) if vertical else (along, across)
    quad = np.array([[x0 - left, y0 - top], [x1 + right, y0 - top], [x1 + right, y1 + bottom],
                     [x0 - left, y1 + bottom]], np.float32)
    quad += rng.normal(0, 0.06 * short, (4, 2)).astype(np.float32)
    centre = quad.mean(axis=0)
    rot = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(rng.normal(0, 2.0)), 1.0)
    return (np.hstack([quad, np.ones((4, 1), np.float32)]) @ rot.T).astype(np.float32)


def _rectify(image: np.ndarray, quad: np.ndarray, scale: float) -> np.ndarray:
    """The quad warped to an upright rectangle, ``scale`` times its size in ``image``."""
    out_w = max(4, round(float(np.linalg.norm(quad[1] - quad[0])) * scale))
    out_h = max(4, round(float(np.linalg.norm(quad[3] - quad[0])) * scale))
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad, dst)
    return cv2.warpPerspective(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def make_crop(sample: PlateText, rng: Rng, strength: float = 1.0) -> np.ndarray:
    """A degraded, detector-like crop (BGR) of ``sample``, from a distant small plate to a close one;
    ``strength`` 0 gives a clean crop at the rendered size."""
    vertical = sample.layout == "vertical"
    rendered = render(sample, float(rng.uniform(0.8, 1.6)), rng)
    corners = np.asarray(rendered.text_corners, np.float32)
    short = float(np.ptp(corners[:, 0] if vertical else corners[:, 1]))
    image, corners = _surround(rendered, rng, round(short * 0.6))
    quad = _detector_quad(corners, rng, vertical)
    crop = _rectify(image, quad, float(rng.uniform(0.6, 1.3)) if strength > 0 else 1.0)
    return degrade.degrade(crop, rng, strength)
