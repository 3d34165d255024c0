"""Camera-like degradations of plate and code images (BGR uint8), each drawn from a numpy ``Generator``.

Geometric: `perspective` (warps an image and its corner sets), `rescale` (resolution loss, anisotropic to mimic
foreshortening). Photometric: `blur`, `motion_blur`, `noise`, `jpeg`, `night`, `glare`, `dirt`, `occlusion`.
`degrade` applies a random subset of the photometric ones (and `rescale`) at a ``strength`` of 0..1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

Rng = np.random.Generator
Points = tuple[tuple[float, float], ...]


def warp_points(matrix: np.ndarray, points: Sequence[Sequence[float]]) -> Points:
    """``points`` moved by the 3x3 perspective ``matrix``."""
    arr = cv2.perspectiveTransform(np.asarray(points, np.float32).reshape(-1, 1, 2), matrix).reshape(-1, 2)
    return tuple((float(x), float(y)) for x, y in arr)


def perspective(image: np.ndarray, rng: Rng, corner_sets: Sequence[Points] = (), max_shift: float = 0.25,
                border: tuple[int, int, int] | None = None) -> tuple[np.ndarray, list[Points]]:
    """A random out-of-plane view: each image corner moves by up to ``max_shift`` of the image's size (in
    and out), the result is framed to the warped image; returns it and each of ``corner_sets`` warped."""
    h, w = image.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    dst = src + rng.uniform(-max_shift, max_shift, (4, 2)).astype(np.float32) * np.array([w, h], np.float32) * 0.5
    dst -= dst.min(axis=0)
    size = np.ceil(dst.max(axis=0)).astype(int) + 1
    matrix = cv2.getPerspectiveTransform(src, dst)
    fill = border if border is not None else tuple(int(v) for v in rng.integers(0, 256, 3))
    out = cv2.warpPerspective(image, matrix, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    return out, [warp_points(matrix, c) for c in corner_sets]


def rescale(image: np.ndarray, rng: Rng, min_side: int = 32, max_factor: float = 1.0) -> np.ndarray:
    """Down to a random size (the shorter side never below ``min_side`` px), unevenly in x and y, and back
    up: the detail a distant or oblique plate loses."""
    h, w = image.shape[:2]
    fy = float(rng.uniform(min(1.0, min_side / min(h, w)), max_factor))
    fx = float(np.clip(fy * rng.uniform(0.6, 1.3), 0.05, 1.0))
    small = cv2.resize(image, (max(2, round(w * fx)), max(2, round(h * fy))), interpolation=cv2.INTER_AREA)
    interp = cv2.INTER_LINEAR if rng.random() < 0.7 else cv2.INTER_NEAREST
    return cv2.resize(small, (w, h), interpolation=interp)


def blur(image: np.ndarray, rng: Rng, max_sigma: float = 1.6) -> np.ndarray:
    """Gaussian defocus."""
    return cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.3, max_sigma)))


def motion_blur(image: np.ndarray, rng: Rng, max_len: int = 7) -> np.ndarray:
    """A straight streak of random direction and length (moving vehicle, long exposure)."""
    n = int(rng.integers(3, max(4, max_len + 1)))
    kernel = np.zeros((n, n), np.float32)
    kernel[n // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (n, n))
    return cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))


def noise(image: np.ndarray, rng: Rng, max_sigma: float = 14.0) -> np.ndarray:
    """Sensor noise, Gaussian per pixel."""
    sigma = float(rng.uniform(2, max_sigma))
    return np.clip(image + rng.standard_normal(image.shape, np.float32) * sigma, 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, rng: Rng, min_quality: int = 25) -> np.ndarray:
    """Encoded and decoded as JPEG at a random quality."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(min_quality, 95))])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def night(image: np.ndarray, rng: Rng) -> np.ndarray:
    """Dark, low contrast, a colour cast of street or infrared light, and the noise of a high gain."""
    gain = float(rng.uniform(0.25, 0.6))
    cast = rng.uniform(0.8, 1.2, 3)
    lut = ((np.arange(256, dtype=np.float32) / 255.0) ** float(rng.uniform(1.1, 1.8)) * 255.0).astype(np.float32)
    dark = lut[image] * (gain * cast).astype(np.float32)
    dark += rng.standard_normal(image.shape, np.float32) * float(rng.uniform(2, 8))
    return np.clip(dark + float(rng.uniform(0, 20)), 0, 255).astype(np.uint8)


def glare(image: np.ndarray, rng: Rng, max_strength: float = 0.7) -> np.ndarray:
    """A bright elliptical patch (headlight, sun on the retro-reflective film)."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    sx, sy = rng.uniform(0.1, 0.5) * w, rng.uniform(0.2, 0.8) * h
    spot = np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2))
    s = float(rng.uniform(0.2, max_strength))
    out = image.astype(np.float32) + (255.0 - image) * (s * spot)[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def dirt(image: np.ndarray, rng: Rng, max_spots: int = 12) -> np.ndarray:
    """Mud specks and a grimy film: small brownish blobs and an uneven darkening."""
    h, w = image.shape[:2]
    out = image.astype(np.float32)
    film = cv2.resize(rng.uniform(0.75, 1.0, (4, 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    out *= film[..., None]
    mud = np.array([40, 60, 90], np.float32) * rng.uniform(0.6, 1.4)
    mask = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(1, max_spots + 1))):
        r = max(1, round(float(rng.uniform(0.01, 0.05)) * h))
        cv2.circle(mask, (int(rng.integers(0, w)), int(rng.integers(0, h))), r, float(rng.uniform(0.3, 0.8)), -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.0)[..., None]
    return np.clip(out * (1 - mask) + mud * mask, 0, 255).astype(np.uint8)


def occlusion(image: np.ndarray, rng: Rng, max_fraction: float = 0.12) -> np.ndarray:
    """A bar (tow hitch, frame, a bolt head) over a thin strip of the edge region: hides at most
    ``max_fraction`` of the height or width, so the characters stay readable."""
    h, w = image.shape[:2]
    out = image.copy()
    color = tuple(int(v) for v in rng.integers(0, 256, 3))
    if rng.random() < 0.5:  # horizontal strip along the top or bottom edge
        t = max(1, round(h * float(rng.uniform(0.03, max_fraction))))
        y0 = 0 if rng.random() < 0.5 else h - t
        x0 = int(rng.integers(0, w // 2))
        cv2.rectangle(out, (x0, y0), (x0 + int(rng.integers(w // 5, w // 2 + 1)), y0 + t), color, -1)
    else:  # a bolt or sticker: a small disc
        r = max(1, round(min(h, w) * float(rng.uniform(0.03, max_fraction / 1.5))))
        cv2.circle(out, (int(rng.integers(0, w)), int(rng.integers(0, h))), r, color, -1)
    return out


def _light(image: np.ndarray, rng: Rng) -> np.ndarray:
    return night(image, rng) if rng.random() < 0.6 else glare(image, rng)


# (probability at strength 1, degradation), applied in this order
PIPELINE: tuple[tuple[float, Callable[[np.ndarray, Rng], np.ndarray]], ...] = (
    (0.3, dirt),
    (0.25, occlusion),
    (0.35, _light),
    (0.6, rescale),
    (0.3, blur),
    (0.25, motion_blur),
    (0.5, noise),
    (0.5, jpeg),
)


def degrade(image: np.ndarray, rng: Rng, strength: float = 1.0) -> np.ndarray:
    """``image`` through a random subset of the photometric degradations (and `rescale`); ``strength`` 0
    returns it unchanged, 1 uses the full probabilities."""
    out = image
    for p, step in PIPELINE:
        if rng.random() < p * strength:
            out = step(out, rng)
    return out
