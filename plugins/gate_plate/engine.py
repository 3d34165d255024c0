"""What a site's plate plugin holds: the reader (models loaded once), the executor it runs in, the lists
and the counts of what happened (for the run's log)."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from gatecore.api import error_text

from . import models
from .config import ListConfig, PlateSection, WatchlistConfig
from .distance import Costs
from .fusion import Fusion
from .lists import ListError, PlateList, load

log = structlog.get_logger("gate_plate")


class SceneReadLike(Protocol):
    """What a frame reader returns per plate or code (``gate_plate.reader.SceneRead``)."""

    @property
    def text(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def layout(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def box(self) -> Sequence[float]: ...


class FrameReader(Protocol):
    """``gate_plate.reader.PlateReader``: every plate and code in a BGR frame, best first. Blocking."""

    def read(self, frame_bgr: Any) -> Sequence[SceneReadLike]: ...


@dataclass
class Watchlist:
    name: str
    config: WatchlistConfig
    entries: PlateList


@dataclass
class SitePlates:
    """Per site: the section, the confusable costs, the lists, and the reader and its executor (opened by
    the first plate source, so a site without plate lanes loads no model)."""

    section: PlateSection
    costs: Costs
    manifest: PlateList | None
    watchlists: dict[str, Watchlist]
    executor: ThreadPoolExecutor
    reader: FrameReader | None = None
    counts: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_section(cls, section: PlateSection | None) -> SitePlates:
        """Read the lists (blocking: called while the site is assembled)."""
        section = section or PlateSection()
        costs = Costs(section.confusables)
        manifest = load(section.manifest.path, costs, section.manifest.check_formats) if section.manifest else None
        watchlists = {name: Watchlist(name, cfg, load(cfg.path, costs, cfg.check_formats))
                      for name, cfg in section.watchlists.items()}
        return cls(section, costs, manifest, watchlists,
                   ThreadPoolExecutor(section.workers, thread_name_prefix="gate_plate"))

    def open_reader(self) -> FrameReader:
        if self.reader is None:
            s = self.section
            self.reader = models.open_reader(s.detector, s.recogniser, s.threads)
        return self.reader

    def fusion(self, countries: Sequence[str]) -> Fusion:
        return Fusion(self.section.repeat_weight, self.section.invalid_weight, countries=tuple(countries))

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] += n

    # -- lists read again when their files change ---------------------------------------------------
    def reload_changed(self) -> list[str]:
        """Read again each list whose file changed (mtime or size); the names of those replaced. Blocking:
        run it in the executor. A file that does not load is logged and the list in use is kept."""
        replaced = []
        if self.section.manifest is not None and self.manifest is not None:
            fresh = self._reread("manifest", self.section.manifest, self.manifest)
            if fresh is not None:
                self.manifest = fresh
                replaced.append("manifest")
        for name, wl in self.watchlists.items():
            fresh = self._reread(name, wl.config, wl.entries)
            if fresh is not None:
                wl.entries = fresh
                replaced.append(name)
        return replaced

    def _reread(self, name: str, cfg: ListConfig, current: PlateList) -> PlateList | None:
        try:
            stat = os.stat(cfg.path)
        except OSError as exc:
            log.error("plate_list_unreadable", what=name, error=error_text(exc))
            return None
        if (stat.st_mtime, stat.st_size) == current.version:
            return None
        try:
            fresh = load(cfg.path, self.costs, cfg.check_formats)
        except ListError as exc:
            log.error("plate_list_refused", what=name, error=error_text(exc), count=len(exc.problems))
            self.count("list_refused")
            return None
        log.info("plate_list_loaded", what=name, size=len(fresh), was=len(current))
        return fresh

    async def keep_lists(self) -> None:
        """Every ``reload_every_s``: read again the lists whose files changed (off the event loop)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.section.reload_every_s)
            await loop.run_in_executor(self.executor, self.reload_changed)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
