"""Undo motion blur and defocus in a crop: estimate the blur, deconvolve it, so the decoder can try again.

A blurred image is the sharp one convolved with a kernel ``k``; in the log power spectrum ``log|K|^2`` adds,
and the zeros of ``K`` (a line of length L: parallel stripes every 1/L; a disc of radius R: rings every
~1/(2R)) are regular, so the *cepstrum* (the inverse transform of the log power spectrum) has a sharp
negative peak at distance L along the motion (a ring of radius ~2R for a disc), whatever the code says.
:func:`estimate` reads both off the cepstrum sampled in polar coordinates; :func:`wiener` deconvolves.
Two other estimators are kept for the benchmark's comparison (``bench/barcode.py``): the autocorrelation of
image derivatives (gradient statistics; :func:`estimate_gradient`) and a bank of line kernels scored by
the sparsity of the deconvolved gradients (:func:`estimate_bank`), and one other deconvolution
(:func:`richardson_lucy`).

Everything runs on OpenCV's packed real DFT (CCS layout), sized to even lengths where it is fast.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from .backends import Image

Floats = npt.NDArray[np.float32]

ANGLES = np.radians(np.arange(0.0, 180.0, 3.0))  # motion directions tried (a line is the same both ways)
LAGS = np.arange(0.0, 40.0, 0.5)  # cepstral distances sampled (px)
MIN_LENGTH = 2.0  # a shorter smear costs a decoder nothing
MIN_RADIUS = 1.0
MAX_RADIUS = 5.0
MAX_LENGTH = 32.0
WINDOW = 256  # the cepstrum is taken on the crop's centre, at most this big
MIN_SIDE = 16  # a crop thinner than this (a 1D code's last position can be a line) gives no reading


@dataclass(frozen=True)
class Blur:
    """A blur estimate: ``"motion"`` (a line of ``size`` px at ``angle`` radians) or ``"defocus"`` (a disc of
    radius ``size``)."""

    kind: str
    size: float
    angle: float = 0.0

    def kernel(self) -> Floats:
        return line_kernel(self.size, self.angle) if self.kind == "motion" else disc_kernel(self.size)

    @property
    def negligible(self) -> bool:
        """Too small a blur to be worth undoing (a decoder reads through it)."""
        return self.size < (MIN_LENGTH if self.kind == "motion" else MIN_RADIUS)


# ---------------------------------------------------------------- kernels


def line_kernel(length: float, angle: float) -> Floats:
    """A straight smear of ``length`` px at ``angle`` (radians, image axes: y down), bilinearly rasterised."""
    length = max(float(length), 1.0)
    r = int(np.ceil(length / 2)) + 1
    n = max(int(np.ceil(length * 4)), 2)
    t = np.linspace(-length / 2, length / 2, n)
    x, y = r + t * np.cos(angle), r + t * np.sin(angle)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    k = np.zeros((2 * r + 2, 2 * r + 2), np.float64)
    for dx, dy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(k, (y0 + dy, x0 + dx), wgt)
    return np.asarray(k[:-1, :-1] / k.sum(), np.float32)


def disc_kernel(radius: float) -> Floats:
    """A defocused lens: a uniform disc of ``radius`` px, edge pixels weighted by their distance to the rim."""
    r = int(np.ceil(radius + 0.5))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    k = np.clip(radius + 0.5 - np.hypot(xx, yy), 0.0, 1.0)
    return np.asarray(k / k.sum(), np.float32)


# ---------------------------------------------------------------- packed spectra


def _even(n: int) -> int:
    """The smallest fast DFT length >= n that is even (the packed layout below assumes even sides)."""
    n = cv2.getOptimalDFTSize(n)
    while n % 2:
        n = cv2.getOptimalDFTSize(n + 1)
    return n


def _pack(half: Floats, shape: tuple[int, int]) -> Floats:
    """A real, even spectrum given on the half plane (``shape[0]`` x ``shape[1] // 2 + 1``) in OpenCV's packed
    (CCS) layout, each value in both the real and the imaginary slot of its frequency: multiplying a packed
    complex spectrum by it scales each frequency by the value."""
    h, w = shape
    out = np.empty(shape, np.float32)
    out[:, 1:w - 1] = np.repeat(half[:, 1:w // 2], 2, axis=1)
    for c, j in ((0, 0), (w - 1, w // 2)):  # the first and last columns are packed down the rows
        out[0, c] = half[0, j]
        out[1:h - 1, c] = np.repeat(half[1:h // 2, j], 2)
        out[h - 1, c] = half[h // 2, j]
    return out


def _unpack(ccs: Floats) -> Floats:
    """The real parts of a packed spectrum of an even (symmetric) kernel, on the half plane."""
    h, w = ccs.shape
    half = np.empty((h, w // 2 + 1), np.float32)
    half[:, 1:w // 2] = ccs[:, 1:w - 1:2]
    for c, j in ((0, 0), (w - 1, w // 2)):
        col = np.empty(h, np.float32)
        col[0], col[h // 2] = ccs[0, c], ccs[h - 1, c]
        col[1:h // 2] = ccs[1:h - 1:2, c]
        col[h // 2 + 1:] = col[1:h // 2][::-1]
        half[:, j] = col
    return half


def _real_part(d: Floats) -> Floats:
    """The real slots of a CCS spectrum, imaginary slots zeroed (a real, even spectrum)."""
    d = d.copy()
    h, w = d.shape
    d[:, 2:w - 1:2] = 0.0
    for c in (0, w - 1):
        d[2:h - 1:2, c] = 0.0
    return d


def _frequencies(shape: tuple[int, int]) -> tuple[Floats, Floats]:
    """Horizontal and vertical frequencies (cycles per pixel) of the half plane of a ``shape`` DFT."""
    h, w = shape
    return (np.asarray(np.arange(w // 2 + 1)[None, :] / w, np.float32),
            np.asarray(np.fft.fftfreq(h)[:, None], np.float32))


def _sinc(x: Floats) -> Floats:
    """sin(pi x) / (pi x) in single precision (numpy's works in double, ten times slower)."""
    y = np.float32(np.pi) * x
    y[y == 0] = np.float32(1e-20)
    return np.asarray(np.sin(y) / y, np.float32)


def otf(blur: Blur, shape: tuple[int, int]) -> Floats:
    """The transfer function of ``blur`` (real: its kernel is symmetric) on the half plane of a ``shape`` DFT:
    a smear's is a sinc across its path, computed directly; a disc's is the DFT of its raster."""
    if blur.kind == "motion":
        u, v = _frequencies(shape)
        return _sinc(u * np.float32(blur.size * np.cos(blur.angle)) + v * np.float32(blur.size * np.sin(blur.angle)))
    kernel = blur.kernel()
    big = np.zeros(shape, np.float32)
    kh, kw = kernel.shape
    big[:kh, :kw] = kernel
    return _unpack(np.asarray(cv2.dft(np.roll(big, (-(kh // 2), -(kw // 2)), (0, 1))), np.float32))


def _padded(img: Image, pad: int) -> tuple[Floats, int, int]:
    """``img`` as floats, mirrored by ``pad`` on each side and on to an even fast DFT size."""
    h, w = img.shape
    H, W = _even(h + 2 * pad), _even(w + 2 * pad)
    top, left = (H - h) // 2, (W - w) // 2
    f = cv2.copyMakeBorder(img.astype(np.float32), top, H - h - top, left, W - w - left, cv2.BORDER_REFLECT)
    return np.asarray(f, np.float32), top, left


NSR = 0.003  # weight of the smoothness term (measured best of 0.001-0.1 on the tuning seed's motion crops)


def nsr_for(noise: float) -> float:
    """The smoothness weight for a frame with sensor noise ``noise`` (sigma, grey levels): NSR up to sigma
    2.5, then growing with the noise power (0.03 at sigma 8, best on the tuning seed's combined crops)."""
    return float(min(NSR * max(1.0, (noise / 2.5) ** 2), 0.1))


def wiener(img: Image, blur: Blur, nsr: float = NSR) -> Image:
    """Regularised Wiener deconvolution of ``img`` by ``blur`` (mirrored borders): the estimate that minimises
    the residual plus ``nsr`` times its Laplacian's energy, so that noise is not sharpened into edges where
    the blur's transfer function is near zero."""
    h, w = img.shape
    f, top, left = _padded(img, int(np.ceil(blur.size)) + 2)
    shape = (f.shape[0], f.shape[1])
    k = otf(blur, shape)
    u, v = _frequencies(shape)
    turn = np.float32(2 * np.pi)
    lap = (2 - 2 * np.cos(turn * u)) + (2 - 2 * np.cos(turn * v))  # the Laplacian's transfer function
    gain = k / (k * k + np.float32(nsr) * lap * lap + np.float32(1e-9))
    out = cv2.idft(cv2.dft(f) * _pack(gain, shape), flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
    return np.asarray(np.clip(out[top:top + h, left:left + w], 0, 255), np.uint8)


def richardson_lucy(img: Image, blur: Blur, iterations: int = 8) -> Image:
    """Richardson-Lucy deconvolution (multiplicative updates, non-negative), on packed spectra."""
    h, w = img.shape
    f, top, left = _padded(img, int(np.ceil(blur.size)) + 2)
    f += 1.0
    k = _pack(otf(blur, (f.shape[0], f.shape[1])), (f.shape[0], f.shape[1]))  # real: blur and its mirror agree
    est = f.copy()
    for _ in range(iterations):
        blurred = cv2.idft(cv2.dft(est) * k, flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
        est *= cv2.idft(cv2.dft(f / np.maximum(blurred, 1e-3)) * k, flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
        np.clip(est, 0.0, 1e4, out=est)  # a sinc's negative lobes must not flip the sign of an estimate
    return np.asarray(np.clip(est[top:top + h, left:left + w] - 1.0, 0, 255), np.uint8)


# ---------------------------------------------------------------- estimation


def _window(img: Image) -> Floats:
    """The crop's centre (at most WINDOW square, even sides), mean removed, Hann-tapered to hide its borders."""
    h, w = img.shape
    wh, ww = min(h, WINDOW) & ~1, min(w, WINDOW) & ~1
    y, x = (h - wh) // 2, (w - ww) // 2
    f = img[y:y + wh, x:x + ww].astype(np.float32)
    f -= float(f.mean())
    return np.asarray(f * _taper(wh, ww), np.float32)


@functools.lru_cache(maxsize=64)
def _taper(h: int, w: int) -> Floats:
    return np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)


def _polar(c: Floats, angles: npt.NDArray[np.float64] = ANGLES, lags: npt.NDArray[np.float64] = LAGS) -> Floats:
    """``c`` (periodic, origin at [0, 0]) sampled along ``angles`` x ``lags`` (bilinear)."""
    xs = (np.cos(angles)[:, None] * lags[None, :]).astype(np.float32)
    ys = (np.sin(angles)[:, None] * lags[None, :]).astype(np.float32)
    return np.asarray(cv2.remap(c, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP), np.float32)


def _spectra(img: Image) -> tuple[Floats, Floats]:
    """The cepstrum and the autocorrelation of the crop's centre (periodic, origins at [0, 0])."""
    spectrum = cv2.dft(_window(img))
    power = cv2.mulSpectrums(spectrum, spectrum, 0, conjB=True)
    floor = 1e-3 * float(cv2.mean(power)[0]) + 1e-6  # real slots hold |F|^2 >= 0, imaginary ones 0
    log = _real_part(np.asarray(cv2.log(np.maximum(power, 0) + np.float32(floor)), np.float32))
    flags = cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT
    return np.asarray(cv2.idft(log, flags=flags), np.float32), np.asarray(cv2.idft(power, flags=flags), np.float32)


def cepstrum(img: Image) -> Floats:
    """The cepstrum of the crop's centre (periodic, origin at [0, 0])."""
    return _spectra(img)[0]


def _refine(centred: Floats, angle: float, lag: float) -> tuple[float, float]:
    """The dip near (``angle``, ``lag``) to 0.5 degree and 0.1 px: a smear's zeros must be matched closely."""
    angles = angle + np.radians(np.arange(-3.0, 3.01, 0.5))
    lags = lag + np.arange(-0.6, 0.61, 0.1)
    fine = _polar(centred, angles, lags)
    i, j = np.unravel_index(int(np.argmin(fine)), fine.shape)
    return float(angles[i] % np.pi), float(lags[j])


def _smear_axis(img: Image) -> tuple[float, float]:
    """(direction of least gradient energy in radians, coherence 0-1) from the structure tensor: a smear
    leaves the most gradient across its path, so for a matrix code (no direction of its own) this is the
    motion; for bars it is the bars' direction, along which a smear changes nothing."""
    f = img[::2, ::2].astype(np.float32)
    gx, gy = cv2.Sobel(f, cv2.CV_32F, 1, 0), cv2.Sobel(f, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    coherence = float(np.hypot(jxx - jyy, 2 * jxy)) / max(jxx + jyy, 1e-9)
    return float((0.5 * np.arctan2(2 * jxy, jxx - jyy) + np.pi / 2) % np.pi), coherence


def _dip(centred: Floats, band: Floats, lags: npt.NDArray[np.float64], rows: npt.NDArray[np.bool_],
         level: float) -> Blur:
    """The smear at the deepest value of ``band`` among the angle ``rows``, refined on the cepstrum.  A
    smear of length L also dips at 2L, 3L...: a dip with one at least half as deep (below ``level``) at half
    its distance is the second of them."""
    masked = np.where(rows[:, None], band, np.inf)
    i, j = (int(k) for k in np.unravel_index(int(np.argmin(masked)), band.shape))
    half = int(np.argmin(np.abs(lags - lags[j] / 2)))
    around = np.take(band[:, half], range(i - 2, i + 3), mode="wrap")  # within 6 degrees
    if lags[j] / 2 >= MIN_LENGTH and float(around.min()) - level <= 0.5 * (band[i, j] - level):
        i, j = (i + int(np.argmin(around)) - 2) % len(ANGLES), half
    angle, length = _refine(centred, float(ANGLES[i]), float(lags[j]))
    return Blur("motion", length, angle)


@dataclass(frozen=True)
class Reading:
    """What :func:`estimate` makes of a crop: its blur readings, the likelier first, and whether it holds bars
    (a 1D code, or PDF417's rows) rather than a matrix code."""

    blurs: list[Blur]
    bars: bool


def estimate(img: Image, coherent: float = 0.3, round_below: float = 0.42, bar_likeness: float = 0.45) -> Reading:
    """Blur readings of the crop's cepstrum, the likelier first (none for a crop under ``MIN_SIDE`` px).

    The smear is the deepest dip of the cepstrum that a right angle does not pair (a code's module grid
    dips on both of its axes, a smear on one).  When the gradients share a direction (``coherent``), the
    structure tensor's quiet axis is either the bars' direction or the motion of a smeared matrix code.
    Bars stay alike far along it (the autocorrelation 24 px along the axis is above ``bar_likeness``):
    then the second reading is the dip across the bars (only a smear across them matters), else the dip
    along the axis comes first.  Defocus is the deepest ring: first when it is nearly as deep as the
    deepest dip (``round_below`` of it: a disc dips at every angle, a smear at one).
    """
    if min(img.shape) < MIN_SIDE:
        return Reading([], False)
    centred, auto = _spectra(img)
    polar = _polar(centred)
    near = (LAGS >= MIN_LENGTH) & (LAGS <= MAX_LENGTH)
    band, lags = polar[:, near], LAGS[near]
    level = float(band.mean())
    turned = np.roll(band, -(len(ANGLES) // 2), axis=0)  # the same distance, a right angle away
    unpaired = band - np.minimum(turned - level, 0.0)
    axis, coherence = _smear_axis(img)
    along = _polar(auto, np.array([axis]), np.array([0.0, 24.0]))[0]
    bars = coherence >= coherent and float(along[1]) > bar_likeness * max(float(along[0]), 1e-9)

    def near_angle(a: float) -> npt.NDArray[np.bool_]:
        return np.asarray(np.abs((ANGLES - a + np.pi / 2) % np.pi - np.pi / 2) <= np.radians(9.0))

    everywhere = _dip(centred, unpaired, lags, np.ones(len(ANGLES), bool), level)
    if bars:
        motion = [everywhere, _dip(centred, band, lags, near_angle(axis + np.pi / 2), level)]
    elif coherence >= coherent:
        motion = [_dip(centred, band, lags, near_angle(axis), level), everywhere]
    else:
        motion = [everywhere]
    ring = polar.mean(axis=0)
    rings = (LAGS >= 2 * MIN_RADIUS) & (LAGS <= 2 * MAX_RADIUS)
    k = int(np.argmin(ring[rings]))
    defocus = Blur("defocus", float(LAGS[rings][k]) / 2)
    round_ = float(np.median(ring[near])) - float(ring[rings][k]) >= round_below * (level - float(band.min()))
    return Reading(_distinct([defocus, *motion] if round_ else [*motion, defocus]), bars)


def _distinct(readings: list[Blur]) -> list[Blur]:
    """``readings`` without those within 1 px and 6 degrees of an earlier one."""
    out: list[Blur] = []
    for b in readings:
        if not any(o.kind == b.kind and abs(o.size - b.size) <= 1.0
                   and abs((o.angle - b.angle + np.pi / 2) % np.pi - np.pi / 2) <= np.radians(6) for o in out):
            out.append(b)
    return out


# ---------------------------------------------------------------- the estimators it was measured against


def estimate_gradient(img: Image) -> list[Blur]:
    """Gradient statistics: the autocorrelation of the derivative along each direction (minus the second
    difference of the image's autocorrelation) dips deepest at the blur length, along the motion."""
    polar = _polar(_spectra(img)[1])
    d2 = -(polar[:, 2:] - 2 * polar[:, 1:-1] + polar[:, :-2])
    d2 /= np.maximum(d2[:, :1], 1e-9)
    lags = LAGS[1:-1]
    near = (lags >= MIN_LENGTH) & (lags <= MAX_LENGTH)
    band = d2[:, near]
    i, j = np.unravel_index(int(np.argmin(band)), band.shape)
    return [Blur("motion", float(lags[near][j]), float(ANGLES[i]))]


BANK = tuple(Blur("motion", float(n), float(a)) for n in (3, 5, 8, 12, 18) for a in np.radians(np.arange(0, 180, 22.5)))


def _sparsity(img: Floats) -> float:
    """Krishnan's normalised sparsity of the gradients, |grad|_1 / |grad|_2: low for a sharp, flat-toned image."""
    gx, gy = np.diff(img, axis=1), np.diff(img, axis=0)
    l1 = float(np.abs(gx).sum() + np.abs(gy).sum())
    l2 = float(np.sqrt((gx * gx).sum() + (gy * gy).sum())) + 1e-9
    return l1 / l2


def estimate_bank(img: Image, bank: tuple[Blur, ...] = BANK) -> list[Blur]:
    """A small bank of line kernels, each tried by deconvolving a half-size copy; the sparsest results first."""
    small = np.asarray(cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA), np.uint8)
    scored = [(_sparsity(wiener(small, Blur("motion", b.size / 2, b.angle), 0.01).astype(np.float32)), b) for b in bank]
    scored.sort(key=lambda s: s[0])
    return [b for _, b in scored[:2]]


# ---------------------------------------------------------------- ladder rungs

Step = Callable[[Image], tuple[Image, npt.NDArray[np.float64]] | None]
#: CPU cost of a blur estimate, and of deconvolving and decoding a crop, per thousand pixels (measured on
#: the benchmark machine under load: the reader starts a deblurring rung only if the budget has room for it)
ESTIMATE_MS = 2.5
DEBLUR_MS_PER_KPX = 0.04


@dataclass(frozen=True)
class Source:
    """Where a region's deblurring rungs work: the frame, the region's box in it (x, y, w, h), the origin of
    the crop the reader tries (results are mapped back to it) and the smoothness weight (:func:`nsr_for`)."""

    grey: Image
    box: tuple[int, int, int, int]
    origin: tuple[int, int]
    nsr: float = NSR

    def crop(self, grow: int = 0) -> tuple[Image, npt.NDArray[np.float64]]:
        """The box grown by ``grow`` px each side (within the frame), and the affine to the reader's crop."""
        x, y, w, h = self.box
        x0, y0 = max(x - grow, 0), max(y - grow, 0)
        x1, y1 = min(x + w + grow, self.grey.shape[1]), min(y + h + grow, self.grey.shape[0])
        offset = np.array([[1.0, 0.0, x0 - self.origin[0]], [0.0, 1.0, y0 - self.origin[1]]])
        return self.grey[y0:y1, x0:x1], offset


Memo = dict[str, object]  # a region's blur reading ("reading")


def reading_of(memo: Memo, source: Source) -> Reading:
    """The blur reading of ``source``'s box, made once per ``memo`` (a region's deblurring rungs share it)."""
    if not isinstance(got := memo.get("reading"), Reading):
        got = memo["reading"] = estimate(source.crop()[0])
    return got


def smeared(reading: Reading, at_least: float = 4.0) -> bool:
    """Whether ``reading``'s likelier blur is a motion smear of ``at_least`` px (not a defocus disc, not a
    smear a decoder reads through)."""
    blurs = [b for b in reading.blurs if not b.negligible]
    return bool(blurs) and blurs[0].kind == "motion" and blurs[0].size >= at_least


@dataclass(frozen=True)
class Unblur:
    """A ladder rung that deconvolves a region by its ``reading``-th blur estimate (0: the likelier), binarised
    by Otsu's threshold (``binarise``) or not.

    The reader binds it to one region (:meth:`bind`), so that the estimate is made once per region,
    when the first of its deblurring rungs runs, and not at all for a region read before that.
    """

    reading: int
    binarise: bool = True  # after deconvolution, ringing and leftover blur leave grey modules that a local
    # binariser splits; Otsu's global threshold read more crops of the tuning seed's motion class (the grey
    # result, tried after it, read one code more in 205 regions of that class: not worth its decode)
    margin: int = 32  # px beyond the smear's reach kept around the region: quiet zone and context (zxing-cpp
    # binarises by local averages: a code filling a tight crop is misread; 32 px read most on the tuning seed)

    def bind(self, memo: Memo, source: Source) -> Step:
        """This rung for the region ``source`` describes; it ignores the crop it is given."""

        def reading() -> Reading:
            return reading_of(memo, source)

        def run(_crop: Image) -> tuple[Image, npt.NDArray[np.float64]] | None:
            blurs = [b for b in reading().blurs if not b.negligible]
            if self.reading >= len(blurs):
                return None
            blur = blurs[self.reading]
            img, offset = source.crop(int(np.ceil(blur.size)) + self.margin)
            out = wiener(img, blur, source.nsr)
            if self.binarise:
                out = np.asarray(cv2.threshold(out, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1], np.uint8)
            return out, offset

        def kind() -> str:
            """The formats to try on the result: bars or matrix codes (a smear makes a matrix code look like
            bars to the reader's own test, not to the estimate's)."""
            return "linear" if reading().bars else "matrix"

        def cost_ms(_crop: Image) -> float:
            _, _, w, h = source.box
            grow = 2 * (self.margin + 8)  # the smear's own reach is not known before the estimate: a typical one
            return (0.0 if "reading" in memo else ESTIMATE_MS) + DEBLUR_MS_PER_KPX * (w + grow) * (h + grow) / 1000

        run.__name__ = f"unblur_{self.reading}" + ("_otsu" if self.binarise else "")
        run.deblur = True  # type: ignore[attr-defined]
        run.formats = kind  # type: ignore[attr-defined]
        run.cost_ms = cost_ms  # type: ignore[attr-defined]
        return run


UNBLUR = (Unblur(0), Unblur(1))
