"""Read every barcode in a camera frame: candidate regions, a bounded retry ladder, de-duplication.

A single library call over a 1080p frame is slow (15-20 ms clean, ~200 ms on a noisy frame) and
brittle (blur, noise, skewed 1D codes, low contrast). :class:`BarcodeReader` instead

1. finds candidate regions (dense gradients on a half-resolution copy; ragged or big blobs are
   split), then adds the regions of the last frame's hits;
2. decodes each region as it is (smoothed first when the frame is noisy);
3. for regions still unread, climbs a ladder of variants — deskewing 1D codes, squaring 2D grids,
   sharpening (first when the frame is soft), upscaling small codes, denoising, contrast stretch,
   adaptive binarisation, inversion — one rung for every open region per round, with the formats
   narrowed to the region's kind (1D or 2D), until every region is read, the ladders end or the
   CPU-time budget is spent;
4. if the budget allows, ends with one half-resolution whole-frame call.

Everything here is synchronous and CPU-bound: call it from an executor, never from the loop.
Figures: ``bench/barcode.py`` and BENCHMARKS.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
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
from .ladder import IDENTITY, LADDER, Affine, Rung, rung_denoise, rung_sharpen, scale, then
from .regions import candidates, expand, noise_level, region_kind, sharpness, widen

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
    narrow: bool = True
    min_bars_px: int = 120
    full_frame_fallback: bool = True
    last_stats: ReadStats = field(default_factory=ReadStats)
    _last_hits: list[tuple[int, int, int, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def read(self, frame: npt.NDArray[np.generic]) -> list[Code]:
        """Every code in ``frame``. Thread-safe: a call still running in an executor after its caller
        gave up (a lane deadline) finishes before the next one starts."""
        with self._lock:
            return self._read(frame)

    def _read(self, frame: npt.NDArray[np.generic]) -> list[Code]:
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
            x, y, w, h = expand(box, grey.shape)
            if w < 8 or h < 8 or self._covered((x, y, w, h), found.values()):
                continue
            region = _Region(x, y, grey[y:y + h, x:x + w])
            if over():
                regions.append(region)
                continue
            stats.regions += 1
            img, m = rung_denoise(region.crop) if noisy else (region.crop, IDENTITY)
            if max(img.shape) > self.large_region:  # merged clutter or a code close up: half size first
                img, m = then(scale(img, 0.5), m)
            region.kind, angle = region_kind(region.crop)
            hints = Hints(downscale=False, invert=False, kind=region.kind if self.narrow else "all")
            if not self._try(region, img, m, found, stats, hints):
                if region.kind == "linear" and w * abs(np.cos(angle)) + h * abs(np.sin(angle)) < self.min_bars_px:
                    continue  # too short across its bars for any 1D code: an edge or a line, not a code
                if region.kind == "linear":  # the blob may hold only part of the bars: widen across them
                    x, y, w, h = widen((x, y, w, h), angle, grey.shape)
                    region = _Region(x, y, grey[y:y + h, x:x + w], "linear")
                    if self._try(region, region.crop, IDENTITY, found, stats, Hints(False, False, True, "linear")):
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
            half, m = scale(grey, 0.5)
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
