"""The retry ladder's rungs: image variants that make a hard crop decodable.

Each rung maps a grey crop to ``(variant, affine)`` where the 2x3 affine maps variant pixels back to
crop pixels, or to ``None`` when it does not apply (a deskew of a crop that is not skewed).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from .backends import Image
from .deblur import UNBLUR, Unblur

Affine = npt.NDArray[np.float64]  # 2x3: variant pixel -> crop pixel

Rung = Callable[[Image], tuple[Image, Affine] | None]  # None: the rung does not apply to this crop
IDENTITY: Affine = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def scale(img: Image, k: float) -> tuple[Image, Affine]:
    out = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA)
    return np.asarray(out, np.uint8), np.array([[1 / k, 0.0, 0.0], [0.0, 1 / k, 0.0]])


def then(step: tuple[Image, Affine], before: Affine) -> tuple[Image, Affine]:
    """Compose: ``step`` was applied to an image that ``before`` maps to the frame."""
    img, m = step
    a = np.vstack([before, [0.0, 0.0, 1.0]]) @ np.vstack([m, [0.0, 0.0, 1.0]])
    return img, a[:2]


def rung_upscale(img: Image) -> tuple[Image, Affine]:
    """Small codes: 2x cubic upscale (a module of 1-2 px becomes 2-4 px)."""
    return scale(img, 2.0 if max(img.shape) < 600 else 1.5)


def rung_denoise(img: Image) -> tuple[Image, Affine]:
    """Sensor noise and JPEG blocks: a light Gaussian before the binariser sees them."""
    return np.asarray(cv2.GaussianBlur(img, (0, 0), 1.2), np.uint8), IDENTITY


def rung_sharpen(img: Image) -> tuple[Image, Affine]:
    """Defocus and motion blur: unsharp mask, upscaled first when the code is small."""
    big, m = scale(img, 2.0) if max(img.shape) < 500 else (img, IDENTITY)
    soft = cv2.GaussianBlur(big, (0, 0), 2.0)
    return np.asarray(cv2.addWeighted(big, 2.2, soft, -1.2, 0), np.uint8), m


def rung_stretch(img: Image) -> tuple[Image, Affine]:
    """Low contrast: local histogram equalisation (CLAHE)."""
    clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4))
    return np.asarray(clahe.apply(img), np.uint8), IDENTITY


def rung_binarise(img: Image) -> tuple[Image, Affine]:
    """Uneven light: adaptive (local mean) binarisation after a denoise, on a 2x upscale."""
    big, m = scale(img, 2.0) if max(img.shape) < 500 else (img, IDENTITY)
    smooth = cv2.GaussianBlur(big, (0, 0), 1.5)
    block = max(15, (min(big.shape) // 8) | 1)
    return np.asarray(cv2.adaptiveThreshold(smooth, 255, cv2.ADAPTIVE_THRESH_MEAN_C,
                                            cv2.THRESH_BINARY, block, 2), np.uint8), m





MIN_SKEW = 4.0  # degrees below which a deskew rung is skipped


BAND_ROWS = 256  # rows of a turned 1D crop kept about its middle: bars upright need no more of their length


def _rotate(img: Image, angle: float, rows: int | None = None) -> tuple[Image, Affine]:
    """Rotate by ``angle`` degrees into a canvas that holds the whole input, or only its middle ``rows`` rows
    (the cost of a turn grows with the canvas: a big widened crop turned whole overran the budget)."""
    h, w = img.shape
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    c, s = abs(rot[0, 0]), abs(rot[0, 1])
    nw, nh = int(h * s + w * c), int(h * c + w * s)
    if rows is not None:
        nh = min(nh, rows)
    rot[0, 2] += nw / 2 - w / 2
    rot[1, 2] += nh / 2 - h / 2
    out = cv2.warpAffine(img, rot, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, np.uint8), cv2.invertAffineTransform(rot).astype(np.float64)


def rung_deskew(img: Image) -> tuple[Image, Affine] | None:
    """Skewed 1D codes: rotate so the dominant gradient direction (structure tensor) is horizontal."""
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1)
    angle = 0.5 * np.degrees(np.arctan2(2 * float((gx * gy).sum()), float((gx * gx - gy * gy).sum())))
    return _rotate(img, float(angle), BAND_ROWS) if abs(angle) >= MIN_SKEW else None


SKEWED = 15.0  # degrees off the pixel axes beyond which a 1D code is deskewed before its first read (zxing-cpp's
# scan lines cross all of a code's bars up to about this skew; a 45-degree code none of them)


MILD_SKEW = 30.0  # degrees off the axes up to which a deskewed 1D code that does not read is read as it is too


def off_axis(angle: float) -> float:
    """How far (degrees) the direction ``angle`` (radians) is from the nearest pixel axis."""
    return abs((float(np.degrees(angle)) + 45.0) % 90.0 - 45.0)


def deskew_by(img: Image, angle: float) -> tuple[Image, Affine] | None:
    """``img`` rotated so that the gradient direction ``angle`` (radians) is horizontal, or None when the bars
    are within :data:`SKEWED` of an axis (the decoder reads them as they are, turned 90 degrees if need be)."""
    return _rotate(img, float(np.degrees(angle)), BAND_ROWS) if off_axis(angle) > SKEWED else None


def rung_square(img: Image) -> tuple[Image, Affine] | None:
    """Skewed 2D codes: rotate the module grid onto the pixel axes (edge orientation modulo 90 degrees)."""
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1)
    m2 = gx * gx + gy * gy
    phi = np.arctan2(gy, gx)
    angle = 0.25 * np.degrees(np.arctan2(float((m2 * np.sin(4 * phi)).sum()), float((m2 * np.cos(4 * phi)).sum())))
    return _rotate(img, float(angle)) if abs(angle) >= MIN_SKEW else None


def rung_invert(img: Image) -> tuple[Image, Affine]:
    """Light-on-dark codes (screens in dark mode): invert."""
    return np.asarray(255 - img, np.uint8), IDENTITY


rung_deskew.upright = True  # type: ignore[attr-defined]  # its output needs no 90-degree retry
rung_deskew.only = "linear"  # type: ignore[attr-defined]
rung_square.only = "matrix"  # type: ignore[attr-defined]

Step = Rung | Unblur  # an Unblur is bound to each region by the reader (its blur is estimated once)

#: rungs in order of yield per millisecond on the benchmark's degraded classes
LADDER: tuple[Step, ...] = (rung_deskew, rung_square, UNBLUR[0], rung_sharpen, UNBLUR[1],
                            rung_upscale, rung_denoise, rung_stretch, rung_binarise, rung_invert)
