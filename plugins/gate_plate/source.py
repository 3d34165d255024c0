"""The evidence sources: frames from the lane's cameras, read off the event loop, fused and matched.

Each camera is read in a task of the source's own (cancelled with it) for at most ``window_ms``: grab a frame,
read it in the site's executor, pause ``frame_interval_ms``, up to ``max_frames`` frames; the plate source
stops early once ``stop_agree`` confident reads agree. A frame that cannot be had or read - the camera
failing, an empty or corrupt image, the reader raising - is counted (``bad_frames``), logged by its error's
type and place, and dropped: the lane goes on with the other frames. Then the reads are fused
(:mod:`gate_plate.fusion`) and judged (:mod:`gate_plate.decide`) in the executor.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gatecore.api import Camera, Evidence, LaneInfo, TransactionContext, error_text, normalise_plate

from . import decide, formats
from .config import CONTAINER, VEHICLE, ContainerEvidence, ReadEvidence, VehicleEvidence
from .decide import Verdict
from .engine import FrameReader, SceneReadLike, SitePlates, log
from .fusion import Candidate, Read, fuse


@dataclass
class Capture:
    """What a crossing's frames gave: the reads of the source's kind, frames read, frames dropped."""

    reads: list[Read] = field(default_factory=list)
    frames: int = 0
    bad: int = 0


def usable(frame: object) -> bool:
    """A non-empty 8-bit image (grey, BGR or BGRA)."""
    return (isinstance(frame, np.ndarray) and frame.size > 0 and frame.dtype == np.uint8
            and (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] in (1, 3, 4))))


class ReadSource:
    """What the two sources share: capture, fusion, the evidence."""

    kind = ""
    reads_kind = ""

    def __init__(self, cfg: ReadEvidence, lane: LaneInfo, state: SitePlates) -> None:
        self.source = cfg.source
        self.cfg = cfg
        self.lane_id = lane.id
        self.state = state
        self.reader: FrameReader = state.open_reader()

    async def collect(self, txn: TransactionContext) -> Evidence:
        t0 = time.monotonic()
        cameras = {role: dev for role in self.cfg.cameras if isinstance(dev := txn.devices.get(role), Camera)}
        if not cameras:
            return self._evidence(Verdict("no_camera", 0.0), t0, Capture(), [], {})
        # The lane runs a source in its own task until it first waits (gatecore.evidence): wait once before
        # asyncio.timeout and TaskGroup take the current task, or the window's end would cancel the lane's.
        await asyncio.sleep(0)
        context = self._context(txn)
        try:
            capture = await self._capture(cameras)
            t1 = time.monotonic()
            line = await self._manifest_line(context)
            loop = asyncio.get_running_loop()
            candidates, verdict = await loop.run_in_executor(self.state.executor, self._conclude, capture.reads, line)
        finally:
            if context is not None and not context.done():
                context.cancel()
        timings = {"capture": round((t1 - t0) * 1e3, 2), "match": round((time.monotonic() - t1) * 1e3, 2)}
        return self._evidence(verdict, t0, capture, candidates, timings)

    # -- reading frames ---------------------------------------------------------------------------
    async def _capture(self, cameras: Mapping[str, Camera]) -> Capture:
        capture = Capture()
        enough = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(loop.time() + self.cfg.window_ms / 1000), asyncio.TaskGroup() as tg:
                for role, camera in cameras.items():
                    tg.create_task(self._camera(role, camera, capture, enough))
        except TimeoutError:
            pass  # the window is over: what was read is what there is
        return capture

    async def _camera(self, role: str, camera: Camera, capture: Capture, enough: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        last: object = None
        for n in range(self.cfg.max_frames):
            if enough.is_set():
                return
            if n:
                await asyncio.sleep(self.cfg.frame_interval_ms / 1000)
            try:
                obs = await camera.grab()
            except Exception as exc:  # noqa: BLE001 - a camera that gives no frame costs that frame only
                self._bad(capture, role, error_text(exc), "no_frame")
                continue
            seq = obs.meta.get("seq")
            if seq is not None and seq == last:
                continue  # the same frame again
            last = seq
            if not usable(obs.payload):
                self._bad(capture, role, why="empty_frame")
                continue
            try:
                found = await loop.run_in_executor(self.state.executor, self.reader.read, obs.payload)
            except Exception as exc:  # noqa: BLE001 - a corrupt frame is dropped, the lane goes on
                self._bad(capture, role, error_text(exc), "unreadable_frame")
                continue
            capture.frames += 1
            capture.reads.extend(self._reads(found, role, n))
            if self._enough(capture.reads):
                enough.set()

    def _reads(self, found: Sequence[SceneReadLike], role: str, frame: int) -> list[Read]:
        out = []
        for r in found:
            if r.kind != self.reads_kind:
                continue
            conf = float(r.confidence)
            conf = min(1.0, max(0.0, conf)) if math.isfinite(conf) else 0.0
            out.append(Read(normalise_plate(r.text), r.kind, r.country, r.layout, conf, role, frame,
                            tuple(float(v) for v in r.box)))
        return out

    def _bad(self, capture: Capture, role: str, error: str | None = None, why: str = "") -> None:
        """Count and log a frame dropped: ``why`` a code, ``error`` the error's type and place (error_text)."""
        capture.bad += 1
        self.state.count("bad_frame")
        log.warning("plate_bad_frame", lane=self.lane_id, source=self.source, role=role, why=why, error=error)

    def _enough(self, reads: Sequence[Read]) -> bool:
        return False

    # -- concluding -------------------------------------------------------------------------------
    def _context(self, txn: TransactionContext) -> asyncio.Future[Evidence | None] | None:
        return None

    async def _manifest_line(self, context: asyncio.Future[Evidence | None] | None) -> int | None:
        return None

    def _conclude(self, reads: list[Read], line: int | None) -> tuple[list[Candidate], Verdict]:
        """Fuse and judge (in the executor)."""
        candidates = fuse(reads, self.state.costs, self.state.fusion(self.cfg.countries)).get(self.reads_kind, [])
        return candidates, self._verdict(candidates, line)

    def _verdict(self, candidates: list[Candidate], line: int | None) -> Verdict:
        raise NotImplementedError

    def _evidence(self, verdict: Verdict, t0: float, capture: Capture, candidates: Sequence[Candidate],
                  timings: Mapping[str, float]) -> Evidence:
        self.state.count(verdict.reason)
        summary: dict[str, Any] = {**verdict.summary, "candidates": len(candidates), "reads": len(capture.reads),
                                   "frames": capture.frames, "bad_frames": capture.bad}
        if timings:
            summary["timings_ms"] = dict(timings)
        log.info("plate_evidence", lane=self.lane_id, source=self.source, reason=verdict.reason,
                 counts={"frames": capture.frames, "reads": len(capture.reads), "bad": capture.bad,
                         "candidates": len(candidates)})
        return Evidence(self.source, self.kind, None, confidence=min(1.0, max(0.0, verdict.confidence)),
                        reason=verdict.reason, claims=verdict.claims, summary=summary,
                        elapsed_ms=(time.monotonic() - t0) * 1e3)


class VehicleSource(ReadSource):
    """``plate.vehicle``: the plate, front and rear."""

    kind = VEHICLE
    reads_kind = "plate"
    cfg: VehicleEvidence

    def _enough(self, reads: Sequence[Read]) -> bool:
        if self.cfg.stop_agree <= 0:
            return False
        sure = Counter(r.text for r in reads if r.confidence >= self.cfg.stop_confidence)
        return any(n >= self.cfg.stop_agree and formats.classify(t) is not None for t, n in sure.items())

    def _verdict(self, candidates: list[Candidate], line: int | None) -> Verdict:
        assert isinstance(self.cfg, VehicleEvidence)
        return decide.vehicle(self.state, self.cfg, candidates)


class ContainerSource(ReadSource):
    """``plate.container``: the container codes, checked against the plate's manifest line when
    ``plate_source`` names the lane's plate source."""

    kind = CONTAINER
    reads_kind = "container"
    cfg: ContainerEvidence

    def _context(self, txn: TransactionContext) -> asyncio.Future[Evidence | None] | None:
        assert isinstance(self.cfg, ContainerEvidence)
        if self.cfg.plate_source is None:
            return None
        wait = (self.cfg.window_ms + self.cfg.plate_wait_ms) / 1000
        return asyncio.ensure_future(txn.wait_evidence(self.cfg.plate_source, wait))

    async def _manifest_line(self, context: asyncio.Future[Evidence | None] | None) -> int | None:
        if context is None:
            return None
        plate = await context
        line = plate.claims.get("manifest_line") if plate is not None and plate.reason == "manifest_match" else None
        return line if isinstance(line, int) else None

    def _verdict(self, candidates: list[Candidate], line: int | None) -> Verdict:
        assert isinstance(self.cfg, ContainerEvidence)
        return decide.containers(self.state, self.cfg, candidates, line)
