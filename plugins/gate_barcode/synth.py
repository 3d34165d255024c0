"""Synthetic camera frames with barcodes, for tests, benchmarks and simulated cameras.

Every frame is generated from a seeded ``numpy.random.Generator``, so a (seed, class) pair
always yields the same pixels.  Codes are rendered by zxing-cpp's writer, warped into a
textured scene (rotation, perspective, fractional module size) and the whole frame is then
degraded according to its class.

Motion (class ``motion``, and mildly ``combined``) is simulated as it happens at a gate: the camera is
fixed, the code (a phone, a card held up) moves while the frame is exposed, so only the code is smeared
over a sharp background.  Its path is straight or curved (constant acceleration, bounded by what a
hand does), its exposure varies and the sensor gain (so the noise) with it, and a rolling shutter
exposes each row later than the one above it (sheared codes, a kernel that changes down the code).
Defocus (class ``defocus``) is a lens out of focus: a disc-shaped blur of the whole frame.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

Grey = npt.NDArray[np.uint8]

CLASSES = ("clean", "blur", "defocus", "motion", "noise", "rotation", "perspective", "low_contrast", "jpeg30",
           "combined")

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
    """One code drawn into a synthetic frame: what it says, where its corners are and how it moved."""

    format: str
    text: str
    quad: tuple[tuple[float, float], ...]
    motion: Motion | None = None


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


def _box(quad: npt.NDArray[np.float32], shape: tuple[int, ...], margin: int = 0) -> tuple[int, int, int, int]:
    """The frame pixels (x0, y0, x1, y1) that ``quad`` touches, grown by ``margin``."""
    x0, y0 = np.floor(quad.min(axis=0)).astype(int) - margin
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1 + margin
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), shape[1]), min(int(y1), shape[0])


def _warp(code: Grey, quad: npt.NDArray[np.float32], box: tuple[int, int, int, int], dark: int,
          light: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """``code`` as tones between ``dark`` and ``light`` warped onto ``quad`` within ``box``, and its coverage."""
    h, w = code.shape
    x0, y0, x1, y1 = box
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(src, (quad - np.array([x0, y0], np.float32)).astype(np.float32))
    size = (x1 - x0, y1 - y0)
    tone = (code.astype(np.float32) / 255.0) * (light - dark) + dark
    warped = cv2.warpPerspective(tone, m, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones_like(tone), m, size, flags=cv2.INTER_LINEAR)
    return np.asarray(warped, np.float32), np.asarray(mask, np.float32)


def paste(frame: Grey, code: Grey, quad: npt.NDArray[np.float32], dark: int = 0, light: int = 255,
          motion: Motion | None = None) -> None:
    """Warp ``code`` (rendered at any scale) onto ``frame`` so its corners land on ``quad``; with ``motion``,
    the code moves while the frame is exposed (the corners are where it is at mid-exposure of its centre row)."""
    if motion is None:
        x0, y0, x1, y1 = _box(quad, frame.shape)
        warped, mask = _warp(code, quad, (x0, y0, x1, y1), dark, light)
        region = frame[y0:y1, x0:x1].astype(np.float32)
        frame[y0:y1, x0:x1] = np.clip(region * (1 - mask) + warped * mask, 0, 255).astype(np.uint8)
        return
    rows = (float(quad[:, 1].min()), float(quad[:, 1].max()))
    centre = float(quad[:, 1].mean())
    x0, y0, x1, y1 = _box(quad, frame.shape, int(np.ceil(motion.reach(rows, centre))) + 2)
    warped, mask = _warp(code, quad, (x0, y0, x1, y1), dark, light)
    layer = smear(np.dstack([warped * mask, mask]), y0, centre, motion)
    region = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = np.clip(region * (1 - layer[:, :, 1]) + layer[:, :, 0], 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- motion and defocus


@dataclass(frozen=True)
class Motion:
    """How a code moves while one frame is exposed (pixels, milliseconds, radians).

    ``turn`` is a sideways acceleration (a curved path), ``accel`` one along the path (the code speeds up
    or slows down: a kernel heavier at one end), ``row_ms`` the rolling shutter's delay from one row to
    the next (0: a global shutter).
    """

    speed: float
    angle: float
    exposure_ms: float
    turn: float = 0.0
    accel: float = 0.0
    row_ms: float = 0.0

    @property
    def length(self) -> float:
        """How far the code travels during one row's exposure, at its mid-exposure speed."""
        return self.speed * self.exposure_ms

    def offset(self, t: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Displacement (dx, dy) at times ``t`` (ms from the reference instant)."""
        along = self.speed * t + 0.5 * self.accel * t * t
        side = 0.5 * self.turn * t * t
        c, s = np.cos(self.angle), np.sin(self.angle)
        return along * c - side * s, along * s + side * c

    def times(self, rows: npt.NDArray[np.float64], centre_row: float, s: float) -> npt.NDArray[np.float64]:
        """When ``rows`` are at fraction ``s`` of their exposure, from mid-exposure of ``centre_row``."""
        return (rows - centre_row) * self.row_ms + (s - 0.5) * self.exposure_ms

    def reach(self, rows: tuple[float, float], centre_row: float) -> float:
        """The largest displacement of any of ``rows`` while they are exposed."""
        t = np.concatenate([self.times(np.array(rows), centre_row, s) for s in (0.0, 0.5, 1.0)])
        t = np.linspace(t.min(), t.max(), 64)
        dx, dy = self.offset(t)
        return float(np.hypot(dx, dy).max())


def frame_exposure(rng: np.random.Generator, longest_ms: float = 16.0) -> tuple[float, float]:
    """One frame's exposure (ms, log-uniform from 3 ms) and rolling-shutter row delay (a quarter global shutter;
    else a 1080-row readout of 15-30 ms)."""
    exposure = float(np.exp(rng.uniform(np.log(3.0), np.log(longest_ms))))
    row_ms = 0.0 if rng.random() < 0.25 else float(rng.uniform(15.0, 30.0)) / 1080
    return exposure, row_ms


def random_motion(rng: np.random.Generator, exposure_ms: float, row_ms: float, fastest: float = 2.0) -> Motion:
    """A hand moving a code at 0.3-``fastest`` px/ms (about 10-60 cm/s at 3 px/mm), log-uniform; half the time
    roughly sideways (walking), else any direction; half the paths curved; accelerations up to ~12 m/s^2."""
    speed = float(np.exp(rng.uniform(np.log(0.3), np.log(fastest))))
    angle = float(rng.uniform(-0.35, 0.35) if rng.random() < 0.5 else rng.uniform(0.0, np.pi))
    turn = float(rng.uniform(-0.04, 0.04)) if rng.random() < 0.5 else 0.0
    return Motion(speed, angle, exposure_ms, turn, float(rng.uniform(-0.03, 0.03)), row_ms)


def exposure_noise(exposure_ms: float) -> float:
    """Sensor noise sigma once auto-exposure has applied the gain that keeps the image as bright as at 8 ms."""
    return 1.0 + 1.5 * float(np.clip(8.0 / exposure_ms, 0.5, 3.0))


def smear(layer: npt.NDArray[np.float32], top: int, centre_row: float, motion: Motion) -> npt.NDArray[np.float32]:
    """``layer`` (rows from frame row ``top``) integrated over each row's exposure while it moves: sensor row y
    sees at time t what is at its pixels then, i.e. the layer shifted by the displacement at t."""
    h, w = layer.shape[:2]
    rows = top + np.arange(h, dtype=np.float64)
    n = max(4, int(np.ceil(2 * (1.5 * motion.length + 1))))  # samples at most ~0.5 px apart along the path
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    acc = np.zeros_like(layer)
    for s in (np.arange(n) + 0.5) / n:
        dx, dy = motion.offset(motion.times(rows, centre_row, float(s)))
        acc += cv2.remap(layer, gx - dx[:, None].astype(np.float32), gy - dy[:, None].astype(np.float32),
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.asarray(acc / n, np.float32)


def disc(radius: float, oversample: int = 8) -> npt.NDArray[np.float32]:
    """A defocused lens's point spread: a uniform disc of ``radius`` px, its edge pixels weighted by coverage."""
    r = int(np.ceil(radius))
    fine = (np.arange((2 * r + 1) * oversample) + 0.5) / oversample - (r + 0.5)
    inside = (fine[None, :] ** 2 + fine[:, None] ** 2 <= radius * radius).astype(np.float32)
    k = inside.reshape(2 * r + 1, oversample, 2 * r + 1, oversample).mean(axis=(1, 3))
    return np.asarray(k / k.sum(), np.float32)


def degrade(frame: Grey, cls: str, rng: np.random.Generator, exposure_ms: float = 8.0) -> Grey:
    """Apply the frame-wide part of a degradation class (defocus, noise, contrast, JPEG); ``exposure_ms`` sets
    the sensor noise of class ``motion``."""
    out = frame
    if cls in ("low_contrast", "combined"):
        alpha = rng.uniform(0.12, 0.22) if cls == "low_contrast" else rng.uniform(0.3, 0.45)
        offset = rng.uniform(70, 150)
        out = np.clip((out.astype(np.float32) - 128) * alpha + offset, 0, 255).astype(np.uint8)
    if cls in ("blur", "combined"):
        sigma = rng.uniform(1.4, 2.4) if cls == "blur" else rng.uniform(0.8, 1.3)
        out = np.asarray(cv2.GaussianBlur(out, (0, 0), sigma), np.uint8)
    if cls == "defocus":
        out = np.asarray(cv2.filter2D(out, -1, disc(float(rng.uniform(1.2, 3.0))), borderType=cv2.BORDER_REFLECT),
                         np.uint8)
    if cls in ("noise", "combined", "defocus", "motion"):
        low, high = {"noise": (22, 34), "combined": (6, 10), "defocus": (1.5, 4.0)}.get(cls, (0, 0))
        sigma = exposure_noise(exposure_ms) if cls == "motion" else rng.uniform(low, high)
        out = np.clip(out.astype(np.float32) + rng.normal(0, sigma, out.shape), 0, 255).astype(np.uint8)
    if cls in ("jpeg30", "combined"):
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 30])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out = np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), np.uint8)
    return np.ascontiguousarray(out, dtype=np.uint8)


def make_frame(rng: np.random.Generator, cls: str = "clean", n_codes: int | None = None,
               mix: dict[str, float] | None = None, height: int = 1080, width: int = 1920,
               shot: np.random.Generator | None = None) -> tuple[Grey, list[Placed]]:
    """One frame of class ``cls`` with 1-3 codes in distinct cells of a 3x2 grid.

    ``shot`` (default: ``rng``) draws what changes from one exposure to the next: the exposure, each
    code's motion, the frame-wide degradation and noise.  Frames made from equal ``rng`` states with
    different shots are a burst of one crossing (:func:`make_burst`).
    """
    if cls not in CLASSES:
        raise ValueError(f"unknown class {cls!r}; expected one of {CLASSES}")
    shot = shot if shot is not None else rng
    mix = mix or DEFAULT_MIX
    names, weights = list(mix), np.array(list(mix.values()), float)
    frame = scene(rng, height, width)
    n = n_codes if n_codes is not None else int(rng.integers(1, 4))
    cells = rng.permutation(6)[:n]
    moving = cls in ("motion", "combined")
    exposure, row_ms = frame_exposure(shot, 16.0 if cls == "motion" else 10.0) if moving else (8.0, 0.0)
    placed = []
    for cell in cells:
        fmt = str(rng.choice(names, p=weights / weights.sum()))
        text, code, quad = _place(fmt, int(cell), cls, rng, width / 3, height / 2)
        dark, light = int(rng.integers(0, 40)), int(rng.integers(200, 256))
        motion = random_motion(shot, exposure, row_ms, 2.0 if cls == "motion" else 0.8) if moving else None
        paste(frame, code, quad, dark, light, motion)
        placed.append(Placed(fmt, text, tuple((float(x), float(y)) for x, y in quad), motion))
    return degrade(frame, cls, shot, exposure), placed


def _place(fmt: str, cell: int, cls: str, rng: np.random.Generator, cw: float,
           ch: float) -> tuple[str, Grey, npt.NDArray[np.float32]]:
    """A payload for ``fmt``, its rendering and where its corners go in grid ``cell`` (cells ``cw`` x ``ch``)."""
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
    return text, code, _quad(w, h, cx, cy, angle, tilt, rng)


def make_burst(rng: np.random.Generator, cls: str = "motion", frames: int = 3,
               n_codes: int | None = None) -> list[tuple[Grey, list[Placed]]]:
    """``frames`` frames of one crossing: the same scene and codes, each exposed anew (its own exposure,
    motion and noise; see :func:`make_frame`)."""
    seed = int(rng.integers(2**63))
    return [make_frame(np.random.default_rng(seed), cls, n_codes, shot=rng) for _ in range(frames)]


def single_code_frame(text: str, fmt: str, module: float, angle: float = 0.0, cls: str | None = None,
                      seed: int = 0, size: tuple[int, int] = (480, 640), background: int = 160) -> Grey:
    """A flat frame with one code at its centre, optionally degraded by class ``cls``."""
    rng = np.random.default_rng(seed)
    frame = np.full(size, background, np.uint8)
    code = render(text, fmt, 4)
    w, h = code.shape[1] / 4 * module, code.shape[0] / 4 * module
    paste(frame, code, _quad(w, h, size[1] / 2, size[0] / 2, angle, 0.0, rng))
    return degrade(frame, cls, rng) if cls else frame
