"""gate_face hooks: the ``face`` evidence kind, its vote, and the ``gatecore face`` commands."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from gate_face import share
from gate_face.config import FaceConfig, FaceEvidence
from gate_face.engine import FaceEngine, check_galleries, check_models
from gate_face.pipeline import FaceResult
from gate_face.runner import LatestFrameWorker
from gatecore.api import (
    Camera,
    Evidence,
    EvidenceConfig,
    LaneInfo,
    Outcome,
    Profile,
    SharedState,
    SiteError,
    SiteView,
    StashKey,
    TransactionContext,
    Vote,
    error_text,
    hookimpl,
)

NAME = "gate_face"
KIND = "face.match"  # the evidence kind, in profiles and in the records
VOTER = "gate_face"


@dataclass
class SiteFaces:
    """A site's face state: its engine (models and galleries, opened by the first face source) and its
    sources, whose frame workers start with the site."""

    cfg: FaceConfig
    engine: FaceEngine | None = None
    sources: list[FaceSource] = field(default_factory=list)

    def open(self) -> FaceEngine:
        if self.engine is None:
            self.engine = FaceEngine.open(self.cfg)
        return self.engine


FACE = StashKey[SiteFaces]()
_PASS, _DENY = {"match"}, {"watchlist_hit"}

log = structlog.get_logger("gate_face")


class FaceSource:
    """One lane's face evidence: frames from the lane camera through the lane's pipeline
    (a queue of one, off the event loop), then 1:1 / 1:N matching."""

    def __init__(self, cfg: FaceEvidence, lane: LaneInfo, engine: FaceEngine) -> None:
        self.source = cfg.source
        self.cfg = cfg
        self.lane = lane
        self.engine = engine
        self.worker: LatestFrameWorker[FaceResult] = LatestFrameWorker(
            engine.pipeline().process, engine.executor)

    async def collect(self, txn: TransactionContext) -> Evidence:
        t0 = time.monotonic()
        camera = self.lane.devices.get(self.cfg.camera)
        if not isinstance(camera, Camera):
            return self._evidence("no_camera", t0, {})
        claim = (asyncio.ensure_future(txn.wait_evidence(self.cfg.claim_source,
                                                         self.cfg.claim_wait_ms / 1000))
                 if self.cfg.claim_source else None)
        try:
            result, frames = await self._good_frame(camera)
            summary: dict[str, Any] = {"frames": frames, "faces": result.faces,
                                       "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()}}
            if result.quality is not None:
                q = result.quality
                summary["quality"] = {"eye_px": round(q.eye_distance_px, 1), "sharpness": round(q.sharpness, 1),
                                      "yaw": round(q.yaw_deg, 1), "roll": round(q.roll_deg, 1)}
            if result.embedding is None:
                return self._evidence(result.status, t0, summary)
            claimed = _claimed(await claim) if claim else None
            t1 = time.monotonic()
            loop = asyncio.get_running_loop()
            scores = await loop.run_in_executor(self.engine.executor, self.engine.match,
                                                result.embedding, claimed)
            summary["timings_ms"]["match"] = round((time.monotonic() - t1) * 1e3, 2)
            identity = scores.pop("identity_ref", None)
            summary.update(scores)
            return self._evidence(_verdict(scores), t0, summary,
                                  {"identity_ref": identity} if identity else {})
        finally:
            if claim is not None and not claim.done():
                claim.cancel()

    async def _good_frame(self, camera: Camera) -> tuple[FaceResult, int]:
        result = FaceResult("no_face")
        for frame_no in range(1, self.cfg.max_frames + 1):
            obs = await camera.grab()
            ticket = self.worker.submit(obs.payload)
            result = await self.worker.result(ticket, self.cfg.deadline_ms / 1000)
            if result.status == "ok":
                return result, frame_no
        return result, self.cfg.max_frames

    def _evidence(self, verdict: str, t0: float, summary: dict[str, Any],
                  claims: Mapping[str, Any] | None = None) -> Evidence:
        score = summary.get("verify_score", summary.get("resident_score", 0.0))
        return Evidence(self.source, KIND, None, confidence=max(0.0, min(1.0, float(score))),
                        reason=verdict, claims=claims or {}, summary={"verdict": verdict, **summary},
                        elapsed_ms=(time.monotonic() - t0) * 1e3)


def _claimed(ev: Evidence | None) -> str | None:
    ref = ev.claims.get("identity_ref") if ev is not None else None
    return ref if isinstance(ref, str) and ref else None


def _verdict(scores: Mapping[str, Any]) -> str:
    if scores.get("watchlist_hit"):
        return "watchlist_hit"
    return str(scores.get("verdict_1to1") or scores.get("verdict_1toN") or "no_claim")


# ---- hooks ------------------------------------------------------------------------------------
@hookimpl
def gatecore_config_section() -> tuple[str, type[FaceConfig]]:
    return NAME, FaceConfig


@hookimpl
def gatecore_evidence_kinds() -> Sequence[type[EvidenceConfig]]:
    return [FaceEvidence]


@hookimpl
def gatecore_check_profile(profile: Profile) -> list[tuple[tuple[str | int, ...], str]]:
    """Each face source has a camera in its lane and the site a [plugins.gate_face] section whose models
    and galleries are there."""
    cfg = profile.plugin_config(NAME)
    issues: list[tuple[tuple[str | int, ...], str]] = []
    for i, lane in enumerate(profile.lanes):
        for j, ev in enumerate(lane.evidence):
            if not isinstance(ev, FaceEvidence):
                continue
            problem = lane.role_problem(ev.camera, Camera)
            if problem:
                issues.append((("lanes", i, "evidence", j, "camera"), problem))
            if not isinstance(cfg, FaceConfig):
                issues.append((("lanes", i, "evidence", j, "kind"), f"face evidence needs a [plugins.{NAME}] section"))
    if not isinstance(cfg, FaceConfig):
        return issues
    return issues + [(("plugins", NAME, *path), msg) for path, msg in check_models(cfg) + check_galleries(cfg)]


@hookimpl
def gatecore_make_evidence_source(config: EvidenceConfig, lane: LaneInfo) -> FaceSource | None:
    if not isinstance(config, FaceEvidence):
        return None
    face = lane.site.stash.get(FACE, None)
    if face is None:
        raise SiteError(f"lane {lane.id}: face evidence needs a [plugins.{NAME}] section")  # check says so first
    source = FaceSource(config, lane, face.open())
    face.sources.append(source)
    return source


@hookimpl
def gatecore_site_setup(site: SiteView) -> None:
    cfg = site.plugin_config(NAME)
    if isinstance(cfg, FaceConfig):
        site.stash[FACE] = SiteFaces(cfg)


@hookimpl
def gatecore_site_start(site: SiteView) -> None:
    face = site.stash.get(FACE, None)
    if face is None:
        return
    for src in face.sources:
        site.spawn(src.worker.run(), name=f"{NAME}/{src.lane.id}/{src.source}")
    engine = face.engine
    if engine is not None and (engine.cfg.reload_every_s > 0 or engine.cfg.share_galleries):
        site.spawn(_keep_galleries(site, engine), name=f"{NAME}/galleries")


async def _keep_galleries(site: SiteView, engine: FaceEngine) -> None:
    """Reload galleries whose files were replaced (``gatecore face enroll``, a copy from elsewhere) and
    share ``share_galleries`` as snapshots: at start, after a reload, and every ``share_every_s``."""
    cfg = engine.cfg
    loop = asyncio.get_running_loop()
    shared_at = -float("inf")
    changed: list[str] = list(cfg.share_galleries)  # at start: say what this controller holds
    while True:
        due = loop.time() - shared_at >= cfg.share_every_s
        try:
            for name in cfg.share_galleries:
                if due or name in changed:
                    update = await loop.run_in_executor(engine.executor, engine.snapshot, site, name)
                    log.info("face_gallery_shared", gallery=name, version=update.version,
                             bytes=len(update.payload))
                    await site.share_state(update)
            if due:
                shared_at = loop.time()
            await asyncio.sleep(cfg.reload_every_s if cfg.reload_every_s > 0 else cfg.share_every_s)
            changed = (await loop.run_in_executor(engine.executor, engine.reload_changed)
                       if cfg.reload_every_s > 0 else [])
        except Exception as exc:  # noqa: BLE001 - keep watching: the next round may succeed (disk back, say)
            log.error("face_galleries_round_failed", error=error_text(exc))
            changed = []
            await asyncio.sleep(max(cfg.reload_every_s, 1.0))


@hookimpl
async def gatecore_site_stop(site: SiteView) -> None:
    """Work already running in the engine's thread (a gallery being saved) ends before the site does;
    work not started is dropped."""
    face = site.stash.get(FACE, None)
    if face is not None and face.engine is not None:
        await asyncio.get_running_loop().run_in_executor(None, face.engine.close)


@hookimpl
async def gatecore_apply_state(site: SiteView, update: SharedState) -> bool | None:
    """Galleries arriving from other controllers (``gate_face/NAME``), applied off the event loop and
    saved to the gallery file, so a restart starts from what was last applied."""
    face = site.stash.get(FACE, None)
    engine = face.engine if face is not None else None
    if not update.name.startswith(share.PREFIX) or engine is None:
        return None
    name = update.name.removeprefix(share.PREFIX)
    if name not in engine.galleries:
        return False
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(engine.executor, engine.apply_update, name, update)


@hookimpl
def gatecore_vote(txn: TransactionContext, evidence: Mapping[str, Evidence]) -> list[Vote]:
    """PASS on a 1:1 (or residents 1:N) match, DENY on a watchlist hit, REFER otherwise. A face source
    that gave nothing in time gets no vote: what missing evidence means is the lane policy's to say
    (``require``, ``refer_on_timeout``)."""
    votes = []
    for name, ev in evidence.items():
        if ev.kind != KIND:
            continue
        outcome = Outcome.PASS if ev.reason in _PASS else Outcome.DENY if ev.reason in _DENY \
            else Outcome.REFER
        votes.append(Vote(VOTER, outcome, ev.reason, source=name))
    return votes


@hookimpl
def gatecore_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from gate_face.cli import add_commands

    add_commands(subparsers)
