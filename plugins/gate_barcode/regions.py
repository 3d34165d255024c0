"""Where codes may be in a frame, and what kind of crop a region is (cheap image statistics)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from .backends import Image

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels

def candidates(grey: Image, limit: int = 8, min_side: int = 32) -> list[tuple[int, int, int, int]]:
    """Regions (x, y, w, h) dense in strong gradients, strongest first (a big blob after its parts), in frame
    pixels.

    Works on a half-resolution, lightly smoothed copy (sensor noise averages out, codes with
    modules of 2 px and more keep their edges); the density map is thresholded against both
    the scene's median density and its strongest regions.
    """
    f = 2 if min(grey.shape) >= 480 else 1
    half = cv2.resize(grey, (grey.shape[1] // f, grey.shape[0] // f), interpolation=cv2.INTER_AREA) if f > 1 else grey
    half = cv2.GaussianBlur(half, (3, 3), 0)
    gx = cv2.convertScaleAbs(cv2.Sobel(half, cv2.CV_16S, 1, 0))
    gy = cv2.convertScaleAbs(cv2.Sobel(half, cv2.CV_16S, 0, 1))
    dens = np.asarray(cv2.blur(cv2.addWeighted(gx, 0.5, gy, 0.5, 0), (21, 21)), np.uint8)
    sample = dens[::4, ::4].ravel()
    k = int(sample.size * 0.995)
    ref = float(np.partition(sample, k)[k])
    level = max(float(np.median(sample)) * 2.5, ref * 0.35, 4.0)
    scored: list[tuple[float, tuple[int, int, int, int]]] = []
    _regions(dens, level, 0, 0, f, min_side, scored, depth=2, big=dens.size // 16)
    scored.sort(key=lambda s: -s[0])
    return parts_first([box for _, box in scored[:limit]])


def _inside(a: Box, b: Box) -> bool:
    return a != b and a[0] >= b[0] and a[1] >= b[1] and a[0] + a[2] <= b[0] + b[2] and a[1] + a[3] <= b[1] + b[3]


def parts_first(boxes: list[Box]) -> list[Box]:
    """``boxes`` with the parts of a big blob (the boxes inside it) just before it, strongest first; the same
    box twice is kept once.  A blob that big is a code merged with clutter or with other codes: its parts
    are smaller, so cheaper to decode and to deblur, and once one is read the blob is skipped as covered
    (seed 11, 60 frames a class: 12 more codes of 593 in the defocus, motion, noise, JPEG and combined
    classes, none fewer)."""
    out: list[Box] = []

    def put(box: Box) -> None:
        if box not in out:
            for part in boxes:
                if _inside(part, box):
                    put(part)
            out.append(box)

    for box in boxes:
        put(box)
    return out


_CLOSE = cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15))


def _regions(dens: Image, level: float, ox: int, oy: int, f: int, min_side: int,
             out: list[tuple[float, tuple[int, int, int, int]]], depth: int, big: int) -> None:
    """Blobs of ``dens`` above ``level``.  A ragged blob (a code merged with clutter) or a big
    one (several codes) is split by thresholding it again halfway between ``level`` and its peak;
    a big solid blob is kept as well as its parts."""
    mask = cv2.morphologyEx((dens > level).astype(np.uint8), cv2.MORPH_CLOSE, _CLOSE)  # bridge wide 1D spaces
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    for c in contours:
        (_, _), (rw, rh), _ = cv2.minAreaRect(c)
        if min(rw, rh) * f < min_side:
            continue  # thin: a line or an edge, not a code
        x, y, w, h = cv2.boundingRect(c)
        peak = float(dens[y:y + h, x:x + w].max())
        solid = cv2.contourArea(c) >= 0.3 * rw * rh
        if solid:
            out.append((peak, ((ox + x) * f, (oy + y) * f, w * f, h * f)))
        if depth > 0 and (not solid or w * h > big):  # ragged or big: codes merged with clutter or each other
            _regions(dens[y:y + h, x:x + w], (level + peak) / 2, ox + x, oy + y, f, min_side, out, depth - 1, big)


def _pct(a: npt.NDArray[np.generic], q: float) -> float:
    flat = a.ravel()
    k = min(int(flat.size * q), flat.size - 1)
    return float(np.partition(flat, k)[k])


def _levels(img: Image, *qs: float) -> list[int]:
    """Quantiles of a uint8 image from its histogram (the same values as sorting, a fraction of the time)."""
    cum = np.cumsum(np.bincount(img.ravel(), minlength=256))
    n = int(cum[-1])
    return [int(np.searchsorted(cum, min(int(n * q), n - 1) + 1)) for q in qs]


def sharpness(img: Image) -> float:
    """Steepest edges relative to contrast: ~0.5 for a crisp code, under ~0.25 once defocused."""
    g = cv2.magnitude(cv2.Sobel(img, cv2.CV_32F, 1, 0), cv2.Sobel(img, cv2.CV_32F, 0, 1))[::2, ::2]
    low, high = _levels(np.ascontiguousarray(img[::2, ::2]), 0.05, 0.95)
    return _pct(g, 0.99) / 8 / max(high - low, 1.0)


def centre(img: Image, size: int) -> Image:
    """The middle of ``img``, at most ``size`` square (a code's statistics without all of its surround)."""
    h, w = img.shape
    y, x = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return img[y:y + size, x:x + size]


def widen(box: tuple[int, int, int, int], angle: float, shape: tuple[int, ...],
           frac: float = 0.4) -> tuple[int, int, int, int]:
    """Grow ``box`` by ``frac`` of its size on each side along the direction ``angle``."""
    x, y, w, h = box
    dx, dy = int(frac * w * abs(np.cos(angle))), int(frac * h * abs(np.sin(angle)))
    x0, y0 = max(x - dx, 0), max(y - dy, 0)
    x1, y1 = min(x + w + dx, shape[1]), min(y + h + dy, shape[0])
    return x0, y0, x1 - x0, y1 - y0


def focus(grey: Image) -> float:
    """A frame's focus measure: the variance of the Laplacian of a quarter-size copy (averaging 16 pixels
    into one keeps sensor noise from passing for detail; smear and defocus both lower it)."""
    small = cv2.resize(grey, (max(grey.shape[1] // 4, 1), max(grey.shape[0] // 4, 1)), interpolation=cv2.INTER_AREA)
    _, dev = cv2.meanStdDev(cv2.Laplacian(small, cv2.CV_32F))
    return float(dev[0, 0]) ** 2


def noise_level(grey: Image) -> float:
    """Sensor noise sigma, estimated from the median absolute Laplacian of a sparse sample."""
    sample = np.ascontiguousarray(grey[::8, ::2])
    lap = cv2.Laplacian(sample, cv2.CV_16S, ksize=1)
    flat = np.abs(lap).ravel()
    k = flat.size // 2
    return 1.4826 * float(np.partition(flat, k)[k]) / float(np.sqrt(20.0))


def expand(box: tuple[int, int, int, int], shape: tuple[int, ...],
            frac: float = 0.2, pad: int = 16) -> tuple[int, int, int, int]:
    x, y, w, h = box
    dx, dy = int(w * frac) + pad, int(h * frac) + pad
    x0, y0 = max(x - dx, 0), max(y - dy, 0)
    x1, y1 = min(x + w + dx, shape[1]), min(y + h + dy, shape[0])
    return x0, y0, x1 - x0, y1 - y0


# ---------------------------------------------------------------- ladder rungs


def region_kind(img: Image, coherent: float = 0.45, bar_likeness: float = 0.4) -> tuple[str, float]:
    """(``"linear"``, ``"matrix"`` or ``"all"``, dominant gradient angle in radians).

    Linear when the gradients share one orientation (bars): the coherence of the structure
    tensor is ~1 for a 1D code or PDF417 and low for QR, Data Matrix and Aztec.  PDF417
    belongs to both families, so either answer can read it.  A matrix code smeared by motion is
    coherent too (its quiet axis is the motion), but unlike bars it does not stay alike 24 px
    along that axis (:func:`along_likeness` below ``bar_likeness``); nor do short bars, so such a
    region is ``"all"`` (both families are tried).
    """
    small = img[::2, ::2]
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    if jxx + jyy <= 0:
        return "all", 0.0
    angle = 0.5 * float(np.arctan2(2 * jxy, jxx - jyy))
    if np.hypot(jxx - jyy, 2 * jxy) / (jxx + jyy) < coherent:
        return "matrix", angle
    return ("linear" if along_likeness(small, angle + np.pi / 2, 12) >= bar_likeness else "all"), angle


def along_likeness(img: Image, direction: float, lag: int) -> float:
    """The correlation of ``img`` with itself shifted ``lag`` px along ``direction`` (radians): ~1 for bars
    along it, low for a matrix code or clutter."""
    dx, dy = round(lag * np.cos(direction)), round(lag * np.sin(direction))
    h, w = img.shape
    if abs(dx) >= w // 2 or abs(dy) >= h // 2:
        return 0.0
    a = img[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)].astype(np.float32)
    b = img[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)].astype(np.float32)
    a -= float(a.mean())
    b -= float(b.mean())
    return float((a * b).sum()) / max(float(np.sqrt((a * a).sum() * (b * b).sum())), 1e-9)
