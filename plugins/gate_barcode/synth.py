"""Synthetic camera frames with barcodes, for tests, benchmarks and simulated cameras.

Every frame is generated from a seeded ``numpy.random.Generator``, so a (seed, class) pair
always yields the same pixels.  Codes are rendered by zxing-cpp's writer, warped into a
textured scene (rotation, perspective, fractional module size) and the whole frame is then
degraded according to its class.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

Grey = npt.NDArray[np.uint8]

CLASSES = ("clean", "blur", "noise", "rotation", "perspective", "low_contrast", "jpeg30", "combined")

#: format name -> relative weight in a generated frame (passes are QR; containers Code 128; ...)
DEFAULT_MIX: dict[str, float] = {
    "QRCode": 0.5,
    "Code128": 0.2,
    "EAN13": 0.1,
    "DataMatrix": 0.1,
    "PDF417": 0.1,
}
_B45 = string.digits + string.ascii_uppercase + " $%*+-./:"


@dataclass(frozen=True)
class Placed:
    """One code drawn into a synthetic frame: what it says and where its corners are."""

    format: str
    text: str
    quad: tuple[tuple[float, float], ...]


def render(text: str, fmt: str, scale: int = 4) -> Grey:
    """Render ``text`` as a ``fmt`` symbol (zxing-cpp writer) with its quiet zone, as grey pixels."""
    symbol = zxingcpp.create_barcode(text, getattr(zxingcpp.BarcodeFormat, fmt))
    img = np.asarray(zxingcpp.write_barcode_to_image(symbol, scale=scale), dtype=np.uint8)
    return np.ascontiguousarray(img)


def random_payload(fmt: str, rng: np.random.Generator) -> str:
    """A plausible payload for ``fmt``: pass-like Base45 for QR, container-like ids for 1D codes."""
    if fmt in ("QRCode", "Aztec"):
        n = int(rng.integers(60, 180))
        return "GP1:" + "".join(_B45[int(i)] for i in rng.integers(0, len(_B45), n))
    if fmt == "EAN13":
        digits = [int(d) for d in rng.integers(0, 10, 12)]
        odd, even = sum(digits[0::2]), sum(digits[1::2])
        return "".join(map(str, digits)) + str((10 - (odd + 3 * even) % 10) % 10)
    if fmt in ("Code128", "Code39"):
        owner = "".join(string.ascii_uppercase[int(i)] for i in rng.integers(0, 26, 4))
        return owner + "".join(str(int(d)) for d in rng.integers(0, 10, 7))
    alphabet = string.ascii_letters + string.digits + "-/:"
    n = int(rng.integers(20, 80))
    return "".join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), n))


def scene(rng: np.random.Generator, height: int = 1080, width: int = 1920) -> Grey:
    """A textured background: low-frequency shading plus some edges (not a flat page)."""
    small = rng.integers(40, 215, (height // 60 + 2, width // 60 + 2)).astype(np.float32)
    base = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(4, 10))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1, y1 = int(rng.integers(0, width)), int(rng.integers(0, height))
        cv2.line(base, (x0, y0), (x1, y1), float(rng.integers(0, 255)), int(rng.integers(2, 12)))
    return np.clip(base, 0, 255).astype(np.uint8)


def _quad(w: float, h: float, cx: float, cy: float, angle: float, tilt: float,
          rng: np.random.Generator) -> npt.NDArray[np.float32]:
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], np.float32)
    if tilt:
        corners += rng.uniform(-tilt, tilt, (4, 2)).astype(np.float32) * np.array([w, h], np.float32)
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    rot = np.array([[c, -s], [s, c]], np.float32)
    return (corners @ rot.T + np.array([cx, cy], np.float32)).astype(np.float32)


def paste(frame: Grey, code: Grey, quad: npt.NDArray[np.float32], dark: int = 0, light: int = 255) -> None:
    """Warp ``code`` (rendered at any scale) onto ``frame`` so its corners land on ``quad``."""
    h, w = code.shape
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1
    x0, y0 = max(int(x0), 0), max(int(y0), 0)
    x1, y1 = min(int(x1), frame.shape[1]), min(int(y1), frame.shape[0])
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(src, (quad - np.array([x0, y0], np.float32)).astype(np.float32))
    size = (x1 - x0, y1 - y0)
    tone = (code.astype(np.float32) / 255.0) * (light - dark) + dark
    warped = cv2.warpPerspective(tone, m, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones_like(tone), m, size, flags=cv2.INTER_LINEAR)
    region = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = np.clip(region * (1 - mask) + warped * mask, 0, 255).astype(np.uint8)


def degrade(frame: Grey, cls: str, rng: np.random.Generator) -> Grey:
    """Apply the frame-wide part of a degradation class (blur, noise, contrast, JPEG)."""
    out = frame
    if cls in ("low_contrast", "combined"):
        alpha = rng.uniform(0.12, 0.22) if cls == "low_contrast" else rng.uniform(0.3, 0.45)
        offset = rng.uniform(70, 150)
        out = np.clip((out.astype(np.float32) - 128) * alpha + offset, 0, 255).astype(np.uint8)
    if cls in ("blur", "combined"):
        sigma = rng.uniform(1.4, 2.4) if cls == "blur" else rng.uniform(0.8, 1.3)
        out = np.asarray(cv2.GaussianBlur(out, (0, 0), sigma), np.uint8)
    if cls in ("noise", "combined"):
        sigma = rng.uniform(22, 34) if cls == "noise" else rng.uniform(6, 10)
        out = np.clip(out.astype(np.float32) + rng.normal(0, sigma, out.shape), 0, 255).astype(np.uint8)
    if cls in ("jpeg30", "combined"):
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 30])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out = np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), np.uint8)
    return np.ascontiguousarray(out, dtype=np.uint8)


def make_frame(rng: np.random.Generator, cls: str = "clean", n_codes: int | None = None,
               mix: dict[str, float] | None = None, height: int = 1080,
               width: int = 1920) -> tuple[Grey, list[Placed]]:
    """One frame of class ``cls`` with 1-3 codes in distinct cells of a 3x2 grid."""
    if cls not in CLASSES:
        raise ValueError(f"unknown class {cls!r}; expected one of {CLASSES}")
    mix = mix or DEFAULT_MIX
    names, weights = list(mix), np.array(list(mix.values()), float)
    frame = scene(rng, height, width)
    n = n_codes if n_codes is not None else int(rng.integers(1, 4))
    cells = rng.permutation(6)[:n]
    cw, ch = width / 3, height / 2
    placed = []
    for cell in cells:
        fmt = str(rng.choice(names, p=weights / weights.sum()))
        module = rng.uniform(1.8, 4.5)
        for _ in range(50):  # draw payloads (and shrink modules) until the code fits its cell
            text = random_payload(fmt, rng)
            code = render(text, fmt, scale=4)
            w, h = code.shape[1] / 4 * module, code.shape[0] / 4 * module
            if max(w, h) <= 0.8 * min(cw, ch):
                break
            module = max(1.8, module * 0.8)
        else:
            raise RuntimeError(f"no {fmt} payload fits a {cw:.0f}x{ch:.0f} cell")
        angle = rng.uniform(-8, 8)
        tilt = 0.02
        if cls in ("rotation",):
            angle = rng.uniform(15, 75) * rng.choice([-1, 1])
        elif cls == "combined":
            angle = rng.uniform(-30, 30)
        if cls == "perspective":
            tilt = rng.uniform(0.08, 0.16)
        elif cls == "combined":
            tilt = rng.uniform(0.04, 0.08)
        half = max(w, h) / 2 * 1.1
        cx = (cell % 3) * cw + cw / 2 + rng.uniform(-1, 1) * max(0.0, cw / 2 - half)
        cy = (cell // 3) * ch + ch / 2 + rng.uniform(-1, 1) * max(0.0, ch / 2 - half)
        quad = _quad(w, h, cx, cy, angle, tilt, rng)
        paste(frame, code, quad, dark=int(rng.integers(0, 40)), light=int(rng.integers(200, 256)))
        placed.append(Placed(fmt, text, tuple((float(x), float(y)) for x, y in quad)))
    return degrade(frame, cls, rng), placed


def single_code_frame(text: str, fmt: str, module: float, angle: float = 0.0, cls: str | None = None,
                      seed: int = 0, size: tuple[int, int] = (480, 640), background: int = 160) -> Grey:
    """A flat frame with one code at its centre, optionally degraded by class ``cls``."""
    rng = np.random.default_rng(seed)
    frame = np.full(size, background, np.uint8)
    code = render(text, fmt, 4)
    w, h = code.shape[1] / 4 * module, code.shape[0] / 4 * module
    paste(frame, code, _quad(w, h, size[1] / 2, size[0] / 2, angle, 0.0, rng))
    return degrade(frame, cls, rng) if cls else frame
