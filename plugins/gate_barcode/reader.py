"""Read every barcode in a camera frame: candidate regions, a bounded retry ladder, de-duplication.

A single library call over a 1080p frame is slow (15-20 ms clean, ~200 ms on a noisy frame) and
brittle (blur, noise, skewed 1D codes, low contrast). :class:`BarcodeReader` instead

1. finds candidate regions (dense gradients on a half-resolution copy; ragged or big blobs are
   split, and a big blob is read after its parts), then adds the regions of the last frame's hits;
2. decodes the strongest ``deblur_regions`` of them as they are (smoothed first when the frame is
   noisy; a 1D region far off the pixel axes turned upright first), and deblurs those still unread
   that look soft (``soft_below``, or ``smeared_below`` when the blur estimate reads a motion smear;
   ``gate_barcode.deblur``: the smear's length and direction, or the defocus disc, read
   off the region's cepstrum, then a regularised Wiener deconvolution and Otsu's threshold) before the
   weaker candidates are decoded as they are;
3. for regions still unread, climbs a ladder of variants — deskewing 1D codes, squaring 2D grids,
   deblurring, sharpening (first when the frame is soft), upscaling small codes, denoising, contrast
   stretch, adaptive binarisation, inversion — one rung for every open region per round, with the
   formats narrowed to the region's kind (1D or 2D), until every region is read, the ladders end or
   the CPU-time budget is spent (a deblurring rung starts only if the budget left covers it);
4. if the budget left covers its predicted cost (``fallback_ms``, more on a noisy frame), ends with one
   half-resolution whole-frame call.

A region read at once costs no deblurring.  :meth:`BarcodeReader.read_burst` reads several frames of
one crossing, the sharpest first.  Everything here is synchronous and CPU-bound: call it from an
executor, never from the loop.  Figures: ``bench/barcode.py`` and BENCHMARKS.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .backends import (
    FORMATS,
    REGION,
    ZBAR_FORMATS,
    Backend,
    Code,
    Found,
    Hints,
    Image,
    ReaderError,
    ZbarBackend,
    ZxingBackend,
    make_backend,
    to_grey,
)
from .deblur import ESTIMATE_MS, Memo, Source, Unblur, nsr_for, reading_of, smeared
from .ladder import (
    IDENTITY,
    LADDER,
    MILD_SKEW,
    Affine,
    Rung,
    Step,
    deskew_by,
    off_axis,
    rung_denoise,
    rung_deskew,
    rung_sharpen,
    scale,
    then,
)
from .regions import candidates, centre, expand, focus, noise_level, region_kind, sharpness, widen

__all__ = ["FORMATS", "ZBAR_FORMATS", "BarcodeReader", "Code", "Deduplicator", "Hints", "ReadStats", "ReaderError",
           "ZbarBackend", "ZxingBackend", "make_backend", "to_grey"]

@dataclass
class ReadStats:
    """What the last :meth:`BarcodeReader.read` did (for logs and the benchmark)."""

    calls: int = 0
    regions: int = 0
    rungs: int = 0
    full_frame: bool = False
    elapsed_ms: float = 0.0
    cpu_ms: float = 0.0
    deblurs: int = 0  # rungs that deconvolved a region
    ladder_cpu_ms: float = 0.0  # CPU time spent before the ladder began
    budget_spent: bool = False


@dataclass
class _Region:
    x: int
    y: int
    crop: Image
    kind: str = "all"
    plan: list[Rung] = field(default_factory=list)  # the rungs still to try, in order
    core: tuple[int, int, int, int] | None = None  # the candidate's box (frame pixels) before it was expanded
    angle: float = 0.0  # dominant gradient direction (radians)
    sharpness: float = 1.0  # judged for the strongest candidates only
    soft: bool = False  # blurred: deblurred before weaker candidates are read
    deskewed: bool = False  # a skewed 1D region, read deskewed at once (the ladder's deskew rung is spent)
    memo: Memo = field(default_factory=dict)  # its blur reading, made once (deblur.reading_of)

    def box(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.crop.shape[1], self.crop.shape[0]


@dataclass
class _Work:
    """One read in progress: the frame, the codes found so far, the statistics and the CPU clock."""

    grey: Image
    budget_ms: float
    stats: ReadStats
    found: dict[tuple[str, bytes], Code] = field(default_factory=dict)
    c0: float = field(default_factory=time.thread_time)

    def over(self) -> bool:
        return self.left_ms() <= 0

    def left_ms(self) -> float:
        return self.budget_ms - (time.thread_time() - self.c0) * 1000


@dataclass
class BarcodeReader:
    """Frame -> list of :class:`Code`, within ``budget_ms`` of this thread's CPU time.

    The budget is CPU time, not wall time, so that a loaded machine (other lanes, other
    processes) does not silently shorten the ladder; one step may overrun it.
    """

    backend: Backend = field(default_factory=ZxingBackend)
    budget_ms: float = 20.0
    ladder: tuple[Step, ...] = LADDER
    max_regions: int = 12
    ladder_regions: int = 6
    deblur_regions: int = 3
    soft_below: float = 0.45
    smeared_below: float = 0.6
    smear_px: float = 4.0
    soft_window: int = 256
    large_region: int = 1100
    denoise_above: float = 8.0
    blurry_below: float = 0.22
    narrow: bool = True
    min_bars_px: int = 120
    full_frame_fallback: bool = True
    fallback_ms: float = 5.0  # predicted CPU cost of the half-resolution whole-frame call: it starts only if the
    noisy_fallback: float = 3.0  # budget left covers it (this many times more on a noisy frame, where it cost
    # 20-26 ms and overran the budget; seed 11: no code fewer, CPU p95 36 -> 30 ms)
    last_stats: ReadStats = field(default_factory=ReadStats)
    _last_hits: list[tuple[int, int, int, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def read(self, frame: npt.NDArray[np.generic]) -> list[Code]:
        """Every code in ``frame``. Thread-safe: a call still running in an executor after its caller
        gave up (a lane deadline) finishes before the next one starts."""
        with self._lock:
            return self._read(frame)

    def read_burst(self, frames: Sequence[npt.NDArray[np.generic]], limit: int | None = None,
                   enough: Callable[[list[Code]], bool] | None = None) -> list[Code]:
        """Every code in a burst of frames of one crossing: the sharpest frames first (:func:`focus`), at
        most ``limit`` of them, each within the budget, until ``enough`` says the codes so far will do; a
        code read in several frames is one code (format and payload, as first read), and each frame is
        seeded with the regions of the codes read so far.  Bad frames raise :class:`ReaderError` before
        any is read."""
        with self._lock:
            greys = [to_grey(f) for f in frames]
            order = sorted(range(len(greys)), key=lambda i: -focus(greys[i]))[:limit]
            found: dict[tuple[str, bytes], Code] = {}
            for i in order:
                for code in self._read(greys[i]):
                    found.setdefault(code.key, code)
                self._last_hits = [c.bbox() for c in found.values()][: self.max_regions]
                if enough is not None and enough(list(found.values())):
                    break
            return list(found.values())

    def _read(self, frame: npt.NDArray[np.generic]) -> list[Code]:
        t0 = time.perf_counter()
        work = _Work(to_grey(frame), self.budget_ms, ReadStats())
        noise = noise_level(work.grey)
        noisy = noise > self.denoise_above
        # last hits go after the candidates: in a stream they are usually candidates again (and then
        # skipped as covered); they matter when detection misses a code that has not moved
        boxes = candidates(work.grey, self.max_regions) + self._last_hits
        # the strongest candidates are read first, and those that look soft are deblurred at once: a
        # smeared code is worth more of the budget than a weak candidate's first read
        unread = self._first_reads(boxes[: self.deblur_regions], work, noisy, head=True)
        blurry = bool(unread) and unread[0].sharpness < self.blurry_below
        for region in unread:
            region.plan = self._plan(region, blurry, work.grey, noise)
        self._climb([r for r in unread if r.soft], work, deblur_only=True)
        unread = [w for r in unread if (w := self._widen_soft(r, work)) is not None]
        rest = self._first_reads(boxes[self.deblur_regions:], work, noisy)
        for region in rest:
            region.plan = self._plan(region, blurry, work.grey, noise)
        work.stats.ladder_cpu_ms = (time.thread_time() - work.c0) * 1000
        self._climb((unread + rest)[: self.ladder_regions], work)
        if self.full_frame_fallback and work.left_ms() >= self.fallback_ms * (self.noisy_fallback if noisy else 1.0):
            work.stats.full_frame = True
            half, m = scale(work.grey, 0.5)
            self._collect(self.backend.decode(half, REGION), 0, 0, m, work)
        stats = work.stats
        stats.budget_spent = work.over()
        stats.elapsed_ms = (time.perf_counter() - t0) * 1000
        stats.cpu_ms = (time.thread_time() - work.c0) * 1000
        self.last_stats = stats
        codes = list(work.found.values())
        self._last_hits = [c.bbox() for c in codes][: self.max_regions]
        return codes

    def _first_reads(self, boxes: list[tuple[int, int, int, int]], work: _Work, noisy: bool,
                     head: bool = False) -> list[_Region]:
        """Decode each box's region as it is (1D ones widened across their bars when that fails); the regions
        still unread, and every region left once the budget is spent.  ``head`` regions are also judged
        soft or not (soft ones are deblurred before weaker candidates are read)."""
        grey, unread = work.grey, []
        for box in boxes:
            x, y, w, h = expand(box, grey.shape)
            if w < 8 or h < 8 or self._covered((x, y, w, h), work.found.values()):
                continue
            region = _Region(x, y, grey[y:y + h, x:x + w], core=box)
            if work.over():
                unread.append(region)
                continue
            work.stats.regions += 1
            img, m = rung_denoise(region.crop) if noisy else (region.crop, IDENTITY)
            if max(img.shape) > self.large_region:  # merged clutter or a code close up: half size first
                img, m = then(scale(img, 0.5), m)
            region.kind, angle = region_kind(region.crop)
            hints = Hints(downscale=False, invert=False, kind=region.kind if self.narrow else "all")
            if (turned := deskew_by(img, angle) if region.kind == "linear" else None) is not None:
                region.deskewed = True
                upright = Hints(downscale=False, invert=False, rotate=False, kind=hints.kind)
                if self._try(region, *then(turned, m), work, upright):
                    continue
            # bars a perspective leans are read as they are and misread turned upright: those up to MILD_SKEW are
            # tried both ways
            if (turned is None or off_axis(angle) <= MILD_SKEW) and self._try(region, img, m, work, hints):
                continue
            if region.kind == "linear" and w * abs(np.cos(angle)) + h * abs(np.sin(angle)) < self.min_bars_px:
                continue  # too short across its bars for any 1D code: an edge or a line, not a code
            region.angle = angle
            if head:
                region.sharpness = sharpness(centre(region.crop, self.soft_window))
                region.soft = region.sharpness < self.soft_below or (
                    region.sharpness < self.smeared_below and self._smeared(region, work))
            if region.kind == "linear" and not region.soft:  # a soft one is widened after its deblurring
                if (wide := self._widened(region, work)) is None:
                    continue
                region = wide
            unread.append(region)
        return unread

    def _smeared(self, region: _Region, work: _Work) -> bool:
        """Whether the blur estimate of a region only a little soft reads a motion smear of ``smear_px``: such a
        region is deblurred early; one softened with the whole frame (a Gaussian blur, a defocused lens) is left
        to the ladder, where sharpening reads it for less (the estimate is kept for the ladder's rungs)."""
        if work.left_ms() < ESTIMATE_MS:
            return False
        source = Source(work.grey, region.core or region.box(), (region.x, region.y))
        return smeared(reading_of(region.memo, source), self.smear_px)

    def _widened(self, region: _Region, work: _Work) -> _Region | None:
        """The 1D region widened across its bars (its blob may hold only part of them), or None if that
        reads it.  The widened region keeps the plan and, for deblurring, the box it was found at."""
        x, y, w, h = widen(region.box(), region.angle, work.grey.shape)
        wide = _Region(x, y, work.grey[y:y + h, x:x + w], "linear", plan=region.plan, core=region.core or region.box(),
                       angle=region.angle, deskewed=region.deskewed, memo=region.memo)
        turned = deskew_by(wide.crop, region.angle) if region.deskewed else None
        img, m = turned or (wide.crop, IDENTITY)
        return None if self._try(wide, img, m, work, Hints(False, False, turned is None, "linear")) else wide

    def _widen_soft(self, region: _Region, work: _Work) -> _Region | None:
        """A soft 1D region still unread after its deblurring, widened now (None once read)."""
        if not (region.soft and region.kind == "linear") or work.over():
            return region
        if self._covered(region.box(), work.found.values()):
            return None
        return self._widened(region, work)

    def _climb(self, regions: list[_Region], work: _Work, deblur_only: bool = False) -> None:
        """One rung for every open region per round (only the deblurring ones with ``deblur_only``, which are
        then spent), until each is read, its plan ends or the budget is spent."""
        if deblur_only:
            queues = {id(r): [s for s in r.plan if getattr(s, "deblur", False)] for r in regions}
            for r in regions:
                r.plan = [s for s in r.plan if not getattr(s, "deblur", False)]
        else:
            queues = {id(r): r.plan for r in regions}
        while regions and not work.over():
            still = []
            for region in regions:
                queue = queues[id(region)]
                if not queue or self._covered(region.box(), work.found.values()):
                    continue
                still.append(region)
                rung = queue.pop(0)
                cost = getattr(rung, "cost_ms", None)
                if work.over() or (cost is not None and cost(region.crop) > work.left_ms()):
                    continue
                if (done := rung(region.crop)) is None:
                    continue
                img, m = done
                work.stats.rungs += 1
                deblurred = bool(getattr(rung, "deblur", False))
                work.stats.deblurs += deblurred
                formats = getattr(rung, "formats", None)
                kind = formats() if formats is not None else region.kind
                upright = bool(getattr(rung, "upright", False))
                if deblurred and region.deskewed and kind == "linear" and (t := deskew_by(img, region.angle)):
                    (img, m), upright = then(t, m), True  # skewed bars, deblurred: turned as at their first read
                hints = Hints(downscale=False, invert=False, rotate=not upright, kind=kind)
                if self._try(region, img, m, work, hints):
                    still.pop()
            regions = still

    def _plan(self, region: _Region, blurry: bool, grey: Image, noise: float = 0.0) -> list[Rung]:
        """This region's ladder: the rungs for its kind, sharpening first when the frame is soft; the
        deblurring rungs share one blur estimate, made when the first of them runs, on the candidate's box
        as detected (not expanded or widened: the clutter beside a smeared code costs deconvolution time and
        misleads the estimate; the rung adds the smear's reach and a margin)."""
        source = Source(grey, region.core or region.box(), (region.x, region.y), nsr_for(noise))
        plan = [r.bind(region.memo, source) if isinstance(r, Unblur) else r for r in self.ladder
                if getattr(r, "only", region.kind) == region.kind and not (region.deskewed and r is rung_deskew)]
        if rung_sharpen in plan and blurry:
            plan.remove(rung_sharpen)
            plan.insert(0, rung_sharpen)
        return plan

    def _try(self, region: _Region, img: Image, m: Affine, work: _Work, hints: Hints) -> bool:
        return self._collect(self.backend.decode(img, hints), region.x, region.y, m, work) > 0

    @staticmethod
    def _collect(results: Iterable[Found], ox: int, oy: int, m: Affine, work: _Work) -> int:
        work.stats.calls += 1
        n = 0
        for name, raw, text, is_bytes, pts in results:
            n += 1
            if (name, raw) in work.found:
                continue
            p = np.array(pts, np.float64)
            frame_pts = p @ m[:, :2].T + m[:, 2] + np.array([ox, oy])
            box = tuple((round(float(x)), round(float(y))) for x, y in frame_pts)
            work.found[(name, raw)] = Code(name, raw, text, is_bytes, box)
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
