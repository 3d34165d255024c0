"""Face chips as dlib's ``get_face_chip`` cuts them (``get_face_chip_details`` + ``extract_image_chip``):
the input of dlib's face descriptor network.

The chip is ``size`` x ``size`` (150 for the ResNet) around dlib's mean 5-point face, ``padding`` (0.25)
of the face's width added on each side.  The similarity that takes the chip's template points onto the
landmarks gives the chip's rotation and scale; when the chip is much smaller than the face in the image,
the image is first halved with dlib's 5 x 5 Gaussian pyramid (``pyramid_down<2>``) until it is not, so
that bilinear sampling does not alias; pixels sampled outside the image are black.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from gate_face.align import similarity
from gate_face.quality import Quality, assess_eyes_nose

Array = np.ndarray[Any, Any]

#: dlib's mean positions of the 5-point model's landmarks in a unit face box (image-right eye outer and
#: inner corner, image-left eye outer and inner corner, nose base)
TEMPLATE_5 = np.array([[0.8595674595992, 0.2134981538014], [0.6460604764104, 0.2289674387677],
                       [0.1205750620789, 0.2137274526848], [0.3340850613712, 0.2290642403242],
                       [0.4901123135679, 0.6277975316475]], np.float64)

DRect = tuple[float, float, float, float]  # left, top, right, bottom (dlib's drectangle)


def chip_details(landmarks: Array, size: int = 150, padding: float = 0.25) -> tuple[DRect, float]:
    """(rectangle in the image, angle in radians) of the chip (``get_face_chip_details``)."""
    chip_points = (padding + TEMPLATE_5) / (2 * padding + 1) * size
    m = similarity(chip_points, np.asarray(landmarks, np.float64))  # chip -> image
    angle = math.atan2(m[1, 0], m[0, 0])
    scale = math.hypot(m[0, 0], m[1, 0])
    cx, cy = m[:, :2] @ np.array([size / 2.0, size / 2.0]) + m[:, 2]
    half = (size * scale - 1) / 2
    return (cx - half, cy - half, cx + half, cy + half), angle


def _area(r: DRect) -> float:
    return 0.0 if r[0] > r[2] or r[1] > r[3] else (r[2] - r[0] + 1) * (r[3] - r[1] + 1)


def _rect_down(r: DRect) -> DRect:
    """``pyramid_down<2>::rect_down``."""
    return r[0] / 2 - 1.25, r[1] / 2 - 0.75, r[2] / 2 - 1.25, r[3] / 2 - 0.75


def _lround(v: float) -> int:
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def pyramid_down2(image: Array) -> Array:
    """dlib's ``pyramid_down<2>`` of an RGB uint8 image: a [1 4 6 4 1] filter each way, every other row
    and column kept, integer arithmetic, (n - 3) // 2 rows and columns."""
    rows, cols = image.shape[:2]
    if rows <= 8 or cols <= 8:
        return np.zeros((0, 0, 3), np.uint8)
    x = image.astype(np.int32)
    n = (cols - 3) // 2
    t = x[:, 0:2 * n:2] + 4 * x[:, 1:2 * n + 1:2] + 6 * x[:, 2:2 * n + 2:2] + 4 * x[:, 3:2 * n + 3:2] \
        + x[:, 4:2 * n + 4:2]
    m = (rows - 3) // 2
    r = np.arange(2, 2 + 2 * m, 2)
    out = (t[r - 2] + 4 * t[r - 1] + 6 * t[r] + 4 * t[r + 1] + t[r + 2]) // 256
    return out.astype(np.uint8)


def _rotate(cx: float, cy: float, x: float, y: float, angle: float) -> tuple[float, float]:
    c, s = math.cos(angle), math.sin(angle)
    return c * (x - cx) - s * (y - cy) + cx, s * (x - cx) + c * (y - cy) + cy


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _sample(src: Any, size: int, x0: float, y0: float, ax: float, ay: float, bx: float, by: float) -> Any:
    """dlib's ``transform_image`` with ``interpolate_bilinear``: chip pixel (r, c) is ``src`` at
    (x0 + ax c + bx r, y0 + ay c + by r), black where its 2 x 2 neighbourhood leaves ``src``, values
    truncated to uint8."""
    h, w, ch = src.shape
    out = np.zeros((size, size, ch), np.uint8)
    for r in range(size):
        for c in range(size):
            x = x0 + ax * c + bx * r
            y = y0 + ay * c + by * r
            left, top = int(np.floor(x)), int(np.floor(y))
            if left < 0 or top < 0 or left + 1 >= w or top + 1 >= h:
                continue
            fx, fy = x - left, y - top
            for k in range(ch):
                v = (1 - fy) * ((1 - fx) * src[top, left, k] + fx * src[top, left + 1, k]) \
                    + fy * ((1 - fx) * src[top + 1, left, k] + fx * src[top + 1, left + 1, k])
                out[r, c, k] = np.uint8(v)
    return out


def face_chip(image: Array, landmarks: Array, size: int = 150, padding: float = 0.25) -> Array:
    """The ``size`` x ``size`` chip of the face whose 5 dlib landmarks are ``landmarks`` (channel order
    as in ``image``)."""
    rect, angle = chip_details(landmarks, size, padding)
    area = float(size * size)
    depth, grow = 0, 2.0
    r = _rect_down(rect)
    while _area(r) > area:
        r = _rect_down(r)
        depth += 1
        grow = grow * 2 + 2
    cx, cy = (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2
    corners = [_rotate(cx, cy, x, y, angle) for x, y in ((rect[0], rect[1]), (rect[2], rect[1]),
                                                         (rect[0], rect[3]), (rect[2], rect[3]))]
    h, w = image.shape[:2]
    box = (max(min(p[0] for p in corners) - grow, 0), max(min(p[1] for p in corners) - grow, 0),
           min(max(p[0] for p in corners) + grow, w - 1), min(max(p[1] for p in corners) + grow, h - 1))
    bl, bt, br, bb = (_lround(v) for v in box)
    if bl > br or bt > bb:
        return np.zeros((size, size, image.shape[2]), np.uint8)
    src = image[bt:bb + 1, bl:br + 1]
    r = (rect[0] - bl, rect[1] - bt, rect[2] - bl, rect[3] - bt)
    for _ in range(depth):  # the pyramid level whose face is nearest the chip's size, not smaller
        src = pyramid_down2(src)
        r = _rect_down(r)
    cx, cy = (r[0] + r[2]) / 2, (r[1] + r[3]) / 2
    tl, tr, bl_ = (_rotate(cx, cy, x, y, angle) for x, y in ((r[0], r[1]), (r[2], r[1]), (r[0], r[3])))
    ax, ay = (tr[0] - tl[0]) / (size - 1), (tr[1] - tl[1]) / (size - 1)  # per chip column
    bx, by = (bl_[0] - tl[0]) / (size - 1), (bl_[1] - tl[1]) / (size - 1)  # per chip row
    out: Array = _sample(np.ascontiguousarray(src), size, tl[0], tl[1], ax, ay, bx, by)
    return out


class DlibChipGeometry:
    """The crop and quality of the dlib family: ``get_face_chip`` (150, padding 0.25) from dlib's five
    landmarks; quality from the eye centres (each the mid-point of its two corners) and the nose base."""

    def __init__(self, size: int = 150, padding: float = 0.25) -> None:
        self.size, self.padding = size, padding

    def crop(self, image: Array, landmarks: Array) -> Array:
        return face_chip(image, landmarks, self.size, self.padding)

    def quality(self, landmarks: Array, crop: Array) -> Quality:
        p = np.asarray(landmarks, np.float64)
        return assess_eyes_nose((p[2] + p[3]) / 2, (p[0] + p[1]) / 2, p[4], crop)
