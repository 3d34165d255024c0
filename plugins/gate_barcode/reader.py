"""Read every barcode in a camera frame: two backends, a bounded retry ladder, de-duplication.

A single library call over a 1080p frame is both slow (15-20 ms clean, far more on noisy
frames) and brittle (blur, noise, skewed 1D codes, low contrast).  :class:`BarcodeReader`
instead

1. finds candidate regions (dense gradients on a half-resolution copy, ~2 ms), the region of
   the last hit first;
2. decodes each region as it is;
3. for regions still unread, climbs a ladder of variants — upscaling small codes, denoising,
   sharpening, contrast stretch, adaptive binarisation, deskewing 1D codes, inversion — one
   rung for every open region per round, until every region is read, the ladder ends or the
   time budget is spent;
4. if the budget allows, ends with one whole-frame call so nothing the raw backend would find
   is lost.

Everything here is synchronous and CPU-bound: call it from an executor, never from the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp
from pyzbar import pyzbar  # type: ignore[import-untyped]

Image = npt.NDArray[np.uint8]
Affine = npt.NDArray[np.float64]  # 2x3: variant pixel -> frame pixel

#: formats this plugin reads (names as zxing-cpp spells them)
FORMATS = ("QRCode", "MicroQRCode", "DataMatrix", "PDF417", "Aztec",
           "Code128", "Code39", "EAN13", "EAN8", "UPCA", "UPCE")
ZBAR_FORMATS = ("QRCode", "PDF417", "Code128", "Code39", "EAN13", "EAN8", "UPCA", "UPCE")
_ZBAR_NAMES = {"QRCODE": "QRCode", "PDF417": "PDF417", "CODE128": "Code128", "CODE39": "Code39",
               "EAN13": "EAN13", "EAN8": "EAN8", "UPCA": "UPCA", "UPCE": "UPCE",
               "ISBN10": "EAN13", "ISBN13": "EAN13"}
_ZBAR_SYMBOLS = {"QRCode": "QRCODE", "PDF417": "PDF417", "Code128": "CODE128", "Code39": "CODE39",
                 "EAN13": "EAN13", "EAN8": "EAN8", "UPCA": "UPCA", "UPCE": "UPCE"}


class ReaderError(ValueError):
    """The frame or the reader's configuration cannot be used."""


@dataclass(frozen=True)
class Code:
    """One decoded symbol: format, payload and its four corners in frame pixels."""

    format: str
    raw: bytes
    text: str
    is_bytes: bool
    box: tuple[tuple[int, int], ...]

    @property
    def key(self) -> tuple[str, bytes]:
        return (self.format, self.raw)

    def bbox(self) -> tuple[int, int, int, int]:
        xs, ys = [p[0] for p in self.box], [p[1] for p in self.box]
        return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def to_grey(frame: npt.NDArray[np.generic]) -> Image:
    """A contiguous uint8 grey view of a BGR, BGRA or grey frame; :class:`ReaderError` otherwise."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise ReaderError("frame must be a uint8 numpy array")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        code = cv2.COLOR_BGR2GRAY if frame.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return np.asarray(cv2.cvtColor(np.asarray(frame, np.uint8), code), dtype=np.uint8)
    if frame.ndim != 2 or min(frame.shape) < 8:
        raise ReaderError(f"frame shape {frame.shape} is not a grey or BGR image")
    return np.ascontiguousarray(frame)


def _text(raw: bytes) -> tuple[str, bool]:
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return "", True


LINEAR = frozenset({"Code128", "Code39", "EAN13", "EAN8", "UPCA", "UPCE", "PDF417"})  # PDF417: stacked rows
MATRIX = frozenset({"QRCode", "MicroQRCode", "DataMatrix", "PDF417", "Aztec"})
Found = tuple[str, bytes, str, bool, list[tuple[float, float]]]


@dataclass(frozen=True)
class Hints:
    """What a backend may skip for one image (the defaults are a raw whole-frame call).

    ``downscale``: also scan downscaled copies; ``invert``: also scan the inverted image;
    ``rotate``: also scan 1D codes at 90 degrees; ``kind``: ``"linear"`` or ``"matrix"``
    narrows the formats tried to those families.
    """

    downscale: bool = True
    invert: bool = True
    rotate: bool = True
    kind: str = "all"


WHOLE = Hints()
REGION = Hints(downscale=False, invert=False)


class ZxingBackend:
    """zxing-cpp (self-contained wheel): every format in :data:`FORMATS`."""

    name = "zxing"

    def __init__(self, formats: Sequence[str] = FORMATS) -> None:
        self.formats = tuple(formats)
        self._formats = {
            "all": zxingcpp.barcode_formats_from_str(",".join(self.formats)),
            "linear": zxingcpp.barcode_formats_from_str(",".join(f for f in self.formats if f in LINEAR)),
            "matrix": zxingcpp.barcode_formats_from_str(",".join(f for f in self.formats if f in MATRIX)),
        }

    def decode(self, img: Image, hints: Hints = WHOLE) -> list[Found]:
        """All codes in ``img`` that ``hints`` allow."""
        out = []
        for r in zxingcpp.read_barcodes(img, formats=self._formats[hints.kind], try_downscale=hints.downscale,
                                        try_invert=hints.invert, try_rotate=hints.rotate):
            name = r.format.name
            if name not in self.formats and name == "EAN13" and "UPCA" in self.formats:
                name = "UPCA"
            binary = r.content_type == zxingcpp.ContentType.Binary
            text, bad = _text(r.bytes) if not binary else ("", True)
            if not bad and r.text and r.content_type != zxingcpp.ContentType.Binary:
                text = r.text
            p = r.position
            pts = [(p.top_left.x, p.top_left.y), (p.top_right.x, p.top_right.y),
                   (p.bottom_right.x, p.bottom_right.y), (p.bottom_left.x, p.bottom_left.y)]
            out.append((name, bytes(r.bytes), text, bad, [(float(x), float(y)) for x, y in pts]))
        return out


class ZbarBackend:
    """pyzbar over the system ``libzbar0``: QR, PDF417 (partial) and the 1D formats."""

    name = "zbar"

    def __init__(self, formats: Sequence[str] = ZBAR_FORMATS) -> None:
        unsupported = sorted(set(formats) - set(ZBAR_FORMATS))
        self.formats = tuple(f for f in formats if f in ZBAR_FORMATS)
        self.unsupported = tuple(unsupported)
        self._symbols = [pyzbar.ZBarSymbol[_ZBAR_SYMBOLS[f]] for f in self.formats]

    def decode(self, img: Image, hints: Hints = WHOLE) -> list[Found]:
        """All codes in ``img`` (zbar has no downscaled, inverted or rotated passes to skip)."""
        out = []
        for d in pyzbar.decode(img, symbols=self._symbols):
            name = _ZBAR_NAMES.get(d.type, d.type)
            pts = np.array([(p.x, p.y) for p in d.polygon], np.float32)
            if len(pts) < 3:
                r = d.rect
                pts = np.array([(r.left, r.top), (r.left + r.width, r.top + r.height)], np.float32)
            corners = cv2.boxPoints(cv2.minAreaRect(pts))
            text, bad = _text(d.data)
            out.append((name, bytes(d.data), text, bad, [(float(x), float(y)) for x, y in corners]))
        return out


Backend = ZxingBackend | ZbarBackend


def make_backend(name: str, formats: Sequence[str] | None = None) -> Backend:
    """``"zxing"`` or ``"zbar"``; unknown names raise :class:`ReaderError`."""
    if formats is not None and (bad := sorted(set(formats) - set(FORMATS))):
        raise ReaderError(f"unsupported formats {bad}; supported: {list(FORMATS)}")
    if name == "zxing":
        return ZxingBackend(formats or FORMATS)
    if name == "zbar":
        return ZbarBackend(formats or ZBAR_FORMATS)
    raise ReaderError(f"unknown barcode backend {name!r}; expected 'zxing' or 'zbar'")


# ---------------------------------------------------------------- candidate regions

def candidates(grey: Image, limit: int = 8, min_side: int = 32) -> list[tuple[int, int, int, int]]:
    """Regions (x, y, w, h) dense in strong gradients, strongest first, in frame pixels.

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
    return [box for _, box in scored[:limit]]


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


def sharpness(img: Image) -> float:
    """Steepest edges relative to contrast: ~0.5 for a crisp code, under ~0.25 once defocused."""
    f = img.astype(np.float32)
    g = cv2.magnitude(cv2.Sobel(f, cv2.CV_32F, 1, 0), cv2.Sobel(f, cv2.CV_32F, 0, 1))[::2, ::2]
    sample = img[::2, ::2]
    return _pct(g, 0.99) / 8 / max(_pct(sample, 0.95) - _pct(sample, 0.05), 1.0)


def _widen(box: tuple[int, int, int, int], angle: float, shape: tuple[int, ...],
           frac: float = 0.4) -> tuple[int, int, int, int]:
    """Grow ``box`` by ``frac`` of its size on each side along the direction ``angle``."""
    x, y, w, h = box
    dx, dy = int(frac * w * abs(np.cos(angle))), int(frac * h * abs(np.sin(angle)))
    x0, y0 = max(x - dx, 0), max(y - dy, 0)
    x1, y1 = min(x + w + dx, shape[1]), min(y + h + dy, shape[0])
    return x0, y0, x1 - x0, y1 - y0


def noise_level(grey: Image) -> float:
    """Sensor noise sigma, estimated from the median absolute Laplacian of a sparse sample."""
    sample = np.ascontiguousarray(grey[::8, ::2])
    lap = cv2.Laplacian(sample, cv2.CV_16S, ksize=1)
    flat = np.abs(lap).ravel()
    k = flat.size // 2
    return 1.4826 * float(np.partition(flat, k)[k]) / float(np.sqrt(20.0))


def _expand(box: tuple[int, int, int, int], shape: tuple[int, ...],
            frac: float = 0.2, pad: int = 16) -> tuple[int, int, int, int]:
    x, y, w, h = box
    dx, dy = int(w * frac) + pad, int(h * frac) + pad
    x0, y0 = max(x - dx, 0), max(y - dy, 0)
    x1, y1 = min(x + w + dx, shape[1]), min(y + h + dy, shape[0])
    return x0, y0, x1 - x0, y1 - y0


# ---------------------------------------------------------------- ladder rungs

Rung = Callable[[Image], tuple[Image, Affine] | None]  # None: the rung does not apply to this crop
_ID: Affine = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _scale(img: Image, k: float) -> tuple[Image, Affine]:
    out = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA)
    return np.asarray(out, np.uint8), np.array([[1 / k, 0.0, 0.0], [0.0, 1 / k, 0.0]])


def _then(step: tuple[Image, Affine], before: Affine) -> tuple[Image, Affine]:
    """Compose: ``step`` was applied to an image that ``before`` maps to the frame."""
    img, m = step
    a = np.vstack([before, [0.0, 0.0, 1.0]]) @ np.vstack([m, [0.0, 0.0, 1.0]])
    return img, a[:2]


def rung_upscale(img: Image) -> tuple[Image, Affine]:
    """Small codes: 2x cubic upscale (a module of 1-2 px becomes 2-4 px)."""
    return _scale(img, 2.0 if max(img.shape) < 600 else 1.5)


def rung_denoise(img: Image) -> tuple[Image, Affine]:
    """Sensor noise and JPEG blocks: a light Gaussian before the binariser sees them."""
    return np.asarray(cv2.GaussianBlur(img, (0, 0), 1.2), np.uint8), _ID


def rung_sharpen(img: Image) -> tuple[Image, Affine]:
    """Defocus and motion blur: unsharp mask, upscaled first when the code is small."""
    big, m = _scale(img, 2.0) if max(img.shape) < 500 else (img, _ID)
    soft = cv2.GaussianBlur(big, (0, 0), 2.0)
    return np.asarray(cv2.addWeighted(big, 2.2, soft, -1.2, 0), np.uint8), m


def rung_stretch(img: Image) -> tuple[Image, Affine]:
    """Low contrast: local histogram equalisation (CLAHE)."""
    clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4))
    return np.asarray(clahe.apply(img), np.uint8), _ID


def rung_binarise(img: Image) -> tuple[Image, Affine]:
    """Uneven light: adaptive (local mean) binarisation after a denoise, on a 2x upscale."""
    big, m = _scale(img, 2.0) if max(img.shape) < 500 else (img, _ID)
    smooth = cv2.GaussianBlur(big, (0, 0), 1.5)
    block = max(15, (min(big.shape) // 8) | 1)
    return np.asarray(cv2.adaptiveThreshold(smooth, 255, cv2.ADAPTIVE_THRESH_MEAN_C,
                                            cv2.THRESH_BINARY, block, 2), np.uint8), m


def region_kind(img: Image, coherent: float = 0.45) -> tuple[str, float]:
    """(``"linear"`` or ``"matrix"``, dominant gradient angle in radians).

    Linear when the gradients share one orientation (bars): the coherence of the structure
    tensor is ~1 for a 1D code or PDF417 and low for QR, Data Matrix and Aztec.  PDF417
    belongs to both families, so either answer can read it.
    """
    small = img[::2, ::2]
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    if jxx + jyy <= 0:
        return "all", 0.0
    angle = 0.5 * float(np.arctan2(2 * jxy, jxx - jyy))
    return ("linear" if np.hypot(jxx - jyy, 2 * jxy) / (jxx + jyy) >= coherent else "matrix"), angle


MIN_SKEW = 4.0  # degrees below which a deskew rung is skipped


def _rotate(img: Image, angle: float) -> tuple[Image, Affine]:
    """Rotate by ``angle`` degrees into a canvas that holds the whole input."""
    h, w = img.shape
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    c, s = abs(rot[0, 0]), abs(rot[0, 1])
    nw, nh = int(h * s + w * c), int(h * c + w * s)
    rot[0, 2] += nw / 2 - w / 2
    rot[1, 2] += nh / 2 - h / 2
    out = cv2.warpAffine(img, rot, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, np.uint8), cv2.invertAffineTransform(rot).astype(np.float64)


def rung_deskew(img: Image) -> tuple[Image, Affine] | None:
    """Skewed 1D codes: rotate so the dominant gradient direction (structure tensor) is horizontal."""
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1)
    angle = 0.5 * np.degrees(np.arctan2(2 * float((gx * gy).sum()), float((gx * gx - gy * gy).sum())))
    return _rotate(img, float(angle)) if abs(angle) >= MIN_SKEW else None


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
    return np.asarray(255 - img, np.uint8), _ID


rung_deskew.upright = True  # type: ignore[attr-defined]  # its output needs no 90-degree retry
rung_deskew.only = "linear"  # type: ignore[attr-defined]
rung_square.only = "matrix"  # type: ignore[attr-defined]

#: rungs in order of yield per millisecond on the benchmark's degraded classes
LADDER: tuple[Rung, ...] = (rung_deskew, rung_square, rung_sharpen, rung_upscale, rung_denoise,
                            rung_stretch, rung_binarise, rung_invert)


# ---------------------------------------------------------------- the reader

@dataclass
class ReadStats:
    """What the last :meth:`BarcodeReader.read` did (for logs and the benchmark)."""

    calls: int = 0
    regions: int = 0
    rungs: int = 0
    full_frame: bool = False
    elapsed_ms: float = 0.0
    cpu_ms: float = 0.0
    budget_spent: bool = False


@dataclass
class _Region:
    x: int
    y: int
    crop: Image
    kind: str = "all"


@dataclass
class BarcodeReader:
    """Frame -> list of :class:`Code`, within ``budget_ms`` of this thread's CPU time.

    The budget is CPU time, not wall time, so that a loaded machine (other lanes, other
    processes) does not silently shorten the ladder; one step may overrun it.
    """

    backend: Backend = field(default_factory=ZxingBackend)
    budget_ms: float = 20.0
    ladder: tuple[Rung, ...] = LADDER
    max_regions: int = 12
    ladder_regions: int = 6
    large_region: int = 1100
    denoise_above: float = 8.0
    blurry_below: float = 0.22
    full_frame_fallback: bool = True
    last_stats: ReadStats = field(default_factory=ReadStats)
    _last_hits: list[tuple[int, int, int, int]] = field(default_factory=list)

    def read(self, frame: npt.NDArray[np.generic]) -> list[Code]:
        t0, c0 = time.perf_counter(), time.thread_time()
        grey = to_grey(frame)
        stats = ReadStats()
        found: dict[tuple[str, bytes], Code] = {}

        def over() -> bool:
            return (time.thread_time() - c0) * 1000 >= self.budget_ms

        noisy = noise_level(grey) > self.denoise_above
        regions = []
        # last hits go after the candidates: in a stream they are usually candidates again (and then
        # skipped as covered); they matter when detection misses a code that has not moved
        for box in candidates(grey, self.max_regions) + self._last_hits:
            x, y, w, h = _expand(box, grey.shape)
            if w < 8 or h < 8 or self._covered((x, y, w, h), found.values()):
                continue
            region = _Region(x, y, grey[y:y + h, x:x + w])
            if over():
                regions.append(region)
                continue
            stats.regions += 1
            img, m = rung_denoise(region.crop) if noisy else (region.crop, _ID)
            if max(img.shape) > self.large_region:  # merged clutter or a code close up: half size first
                img, m = _then(_scale(img, 0.5), m)
            if not self._try(region, img, m, found, stats, REGION):
                region.kind, angle = region_kind(region.crop)
                if region.kind == "linear":  # the blob may hold only part of the bars: widen across them
                    x, y, w, h = _widen((x, y, w, h), angle, grey.shape)
                    region = _Region(x, y, grey[y:y + h, x:x + w], "linear")
                    if self._try(region, region.crop, _ID, found, stats, Hints(False, False, True, "linear")):
                        continue
                regions.append(region)
        regions = regions[: self.ladder_regions]
        # defocus is a property of the camera, not of one code: judge it once, on the strongest region
        blurry = bool(regions) and sharpness(regions[0].crop) < self.blurry_below
        plans = {id(r): self._plan(r, blurry) for r in regions}
        for step in range(len(self.ladder)):
            if not regions or over():
                break
            still = []
            for region in regions:
                if self._covered((region.x, region.y, *region.crop.shape[::-1]), found.values()):
                    continue
                plan = plans[id(region)]
                if step >= len(plan):
                    continue
                still.append(region)
                if over() or (done := plan[step](region.crop)) is None:
                    continue
                img, m = done
                stats.rungs += 1
                hints = Hints(downscale=False, invert=False, rotate=not getattr(plan[step], "upright", False),
                              kind=region.kind)
                if self._try(region, img, m, found, stats, hints):
                    still.pop()
            regions = still
        if self.full_frame_fallback and not over():
            stats.full_frame = True
            half, m = _scale(grey, 0.5)
            self._collect(self.backend.decode(half, REGION), 0, 0, m, found, stats)
        stats.budget_spent = over()
        stats.elapsed_ms = (time.perf_counter() - t0) * 1000
        stats.cpu_ms = (time.thread_time() - c0) * 1000
        self.last_stats = stats
        codes = list(found.values())
        self._last_hits = [c.bbox() for c in codes][: self.max_regions]
        return codes

    def _plan(self, region: _Region, blurry: bool) -> list[Rung]:
        """This region's ladder: the rungs for its kind, sharpening first when the frame is soft."""
        plan = [r for r in self.ladder if getattr(r, "only", region.kind) == region.kind]
        if rung_sharpen in plan and blurry:
            plan.remove(rung_sharpen)
            plan.insert(0, rung_sharpen)
        return plan

    def _try(self, region: _Region, img: Image, m: Affine, found: dict[tuple[str, bytes], Code],
             stats: ReadStats, hints: Hints) -> bool:
        return self._collect(self.backend.decode(img, hints), region.x, region.y, m, found, stats) > 0

    @staticmethod
    def _collect(results: Iterable[Found],
                 ox: int, oy: int, m: Affine, found: dict[tuple[str, bytes], Code],
                 stats: ReadStats) -> int:
        stats.calls += 1
        n = 0
        for name, raw, text, is_bytes, pts in results:
            n += 1
            if (name, raw) in found:
                continue
            p = np.array(pts, np.float64)
            frame_pts = p @ m[:, :2].T + m[:, 2] + np.array([ox, oy])
            box = tuple((round(float(x)), round(float(y))) for x, y in frame_pts)
            found[(name, raw)] = Code(name, raw, text, is_bytes, box)
        return n

    @staticmethod
    def _covered(box: tuple[int, int, int, int], codes: Iterable[Code]) -> bool:
        x, y, w, h = box
        for c in codes:
            cx, cy, cw, ch = c.bbox()
            if cx >= x and cy >= y and cx + cw <= x + w and cy + ch <= y + h:
                return True
        return False


# ---------------------------------------------------------------- de-duplication

@dataclass
class Deduplicator:
    """One pass held in front of the camera is one scan.

    A code is *new* the first time it is seen and again only after it has been out of
    sight for ``hold_s`` seconds; every sighting refreshes it.  Time is passed in (monotonic
    seconds), so the rule is testable without sleeping.
    """

    hold_s: float = 2.0
    max_entries: int = 1024
    _seen: dict[tuple[str, bytes], float] = field(default_factory=dict)

    def fresh(self, codes: Iterable[Code], now: float) -> list[Code]:
        new = []
        for code in codes:
            last = self._seen.get(code.key)
            if last is None or now - last > self.hold_s:
                new.append(code)
            self._seen[code.key] = now
        if len(self._seen) > self.max_entries:
            self._seen = {k: t for k, t in self._seen.items() if now - t <= self.hold_s}
        return new
