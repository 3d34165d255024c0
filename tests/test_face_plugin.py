"""The gate_face plugin through gatecore's hooks: evidence, votes, profile checks, commands."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gate_face import plugin, testing
from gate_face.calibrate import calibrate
from gate_face.config import FaceConfig, FaceEvidence, GalleryPolicy, ModelFile
from gate_face.engine import FaceEngine, FaceSetupError, check_models, make_pipeline
from gate_face.index import EmbeddingIndex
from gate_face.models import sha256_file
from gate_face.store import GalleryStore
from gatecore.api import (
    Camera,
    DeviceContext,
    Evidence,
    LaneConfig,
    LaneInfo,
    Observation,
    Outcome,
    PresenceChanged,
    TransactionContext,
)
from gatecore.testing import BareSite

Array = np.ndarray[Any, Any]


class FrameCamera(Camera):
    """A camera that hands out prepared frames, the last one again when they run out."""

    def __init__(self, ctx: DeviceContext, frames: list[Array]) -> None:
        super().__init__(ctx)
        self.frames = frames
        self.grabbed = 0

    async def grab(self) -> Observation:
        frame = self.frames[min(self.grabbed, len(self.frames) - 1)]
        self.grabbed += 1
        return Observation(kind="frame", role=self.role, payload=frame)


def face_image(identity: int, jitter: int = 0) -> Array:
    image = np.zeros((320, 320, 3), np.uint8)
    if identity:
        testing.draw_face(image, 4, 5, identity, jitter=jitter)
    return image


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> FaceConfig:
    d = tmp_path_factory.mktemp("face")
    det, emb = testing.make_scrfd_like(d / "det.onnx"), testing.make_embedder(d / "emb.onnx")
    cfg = FaceConfig(family="insightface", detector=ModelFile(path=det, sha256=sha256_file(det)),
                     embedder=ModelFile(path=emb, sha256=sha256_file(emb)), detector_input=(320, 320),
                     galleries_dir=d / "galleries", residents="residents",
                     galleries={"travellers": GalleryPolicy(threshold=0.9),
                                "watchlist": GalleryPolicy(threshold=0.9),
                                "residents": GalleryPolicy(threshold=0.9)})
    pipe = make_pipeline(cfg)
    store = GalleryStore(cfg.galleries_dir)
    for name, people in (("travellers", range(1, 6)), ("watchlist", [9]), ("residents", [7])):
        index = EmbeddingIndex(512)
        for p in people:
            result = pipe.process(face_image(p))
            assert result.embedding is not None
            index.add([f"ref-{p}"], result.embedding)
        store.save(name, index)
    return cfg


@pytest.fixture
async def lane(setup: FaceConfig) -> AsyncIterator[tuple[LaneInfo, FrameCamera]]:
    site = BareSite(sections={"gate_face": setup})
    plugin.gatecore_site_setup(site)
    ctx = DeviceContext(site, "lane-1", "face", "test.camera", lambda e: None)
    camera = FrameCamera(ctx, [])
    info = LaneInfo(site, LaneConfig(id="lane-1"), {"face": camera})
    yield info, camera
    engine = site.stash[plugin.FACE].engine
    if engine is not None:
        engine.close()


async def crossing(info: LaneInfo, camera: FrameCamera, frames: list[Array], claimed: str | None,
                   **evidence_cfg: Any) -> tuple[Evidence, list[Any]]:
    source = plugin.gatecore_make_evidence_source(FaceEvidence(source="face", **evidence_cfg), info)
    assert isinstance(source, plugin.FaceSource)
    worker = asyncio.create_task(source.worker.run())
    camera.frames = frames
    txn = TransactionContext("txn-1", "site", "lane-1", PresenceChanged("entry", occupied=True),
                             info.devices)
    if claimed is not None:
        txn.publish("pass", Evidence("pass", "pass", Outcome.PASS, claims={"identity_ref": claimed}))
    try:
        ev = await asyncio.wait_for(source.collect(txn), 10)
    finally:
        worker.cancel()
    return ev, plugin.gatecore_vote(txn, {"face": ev})


def assert_no_biometrics(ev: Evidence) -> None:
    text = json.dumps(ev.to_summary())  # scalars only: no arrays, images or embeddings
    assert "embedding" not in text and len(text) < 2000


async def test_pass_when_the_face_matches_the_claimed_identity(lane: tuple[LaneInfo, FrameCamera]) -> None:
    ev, votes = await crossing(*lane, [face_image(3, jitter=5)], "ref-3")
    assert ev.reason == "match" and ev.summary["verify_score"] >= 0.9
    assert {"detect", "align", "embed", "match"} <= set(ev.summary["timings_ms"])
    assert [(v.outcome, v.source) for v in votes] == [(Outcome.PASS, "face")]
    assert_no_biometrics(ev)


async def test_refer_when_the_face_is_someone_else(lane: tuple[LaneInfo, FrameCamera]) -> None:
    ev, votes = await crossing(*lane, [face_image(4)], "ref-3")
    assert ev.reason == "no_match" and ev.summary["verify_score"] < 0.9
    assert votes[0].outcome == Outcome.REFER


async def test_deny_on_a_watchlist_hit(lane: tuple[LaneInfo, FrameCamera]) -> None:
    ev, votes = await crossing(*lane, [face_image(9, jitter=3)], "ref-3")
    assert ev.reason == "watchlist_hit" and ev.summary["watchlist_hit"] is True
    assert votes[0].outcome == Outcome.DENY


async def test_refer_after_frames_without_a_face(lane: tuple[LaneInfo, FrameCamera]) -> None:
    ev, votes = await crossing(*lane, [face_image(0)], "ref-3", max_frames=2)
    assert ev.reason == "no_face" and ev.summary["frames"] == 2 and lane[1].grabbed == 2
    assert votes[0].outcome == Outcome.REFER and votes[0].reason == "no_face"


async def test_a_later_good_frame_is_used(lane: tuple[LaneInfo, FrameCamera]) -> None:
    ev, _ = await crossing(*lane, [face_image(0), face_image(2)], "ref-2")
    assert ev.reason == "match" and ev.summary["frames"] == 2


async def test_refer_when_the_claimed_identity_is_not_enrolled(lane: tuple[LaneInfo, FrameCamera]) -> None:
    ev, votes = await crossing(*lane, [face_image(1)], "ref-404")
    assert ev.reason == "not_enrolled" and votes[0].outcome == Outcome.REFER


async def test_residents_are_searched_when_nothing_is_claimed(lane: tuple[LaneInfo, FrameCamera]) -> None:
    ev, votes = await crossing(*lane, [face_image(7)], None, claim_source=None)
    assert ev.reason == "match" and ev.claims["identity_ref"] == "ref-7"
    assert votes[0].outcome == Outcome.PASS
    ev, votes = await crossing(*lane, [face_image(1)], None, claim_source=None)
    assert ev.reason == "no_match" and votes[0].outcome == Outcome.REFER


def test_a_face_source_without_evidence_gets_no_vote_the_policy_decides() -> None:
    """Missing evidence is the policy's (require, refer_on_timeout): the face voter does not re-decide it."""
    txn = TransactionContext("t", "s", "l", PresenceChanged("entry", occupied=True), {})
    assert plugin.gatecore_vote(txn, {}) == []


def test_thresholds_come_from_the_calibration_beside_the_gallery(setup: FaceConfig, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cfg = setup.model_copy(update={"galleries": {}})
    with pytest.raises(FaceSetupError, match="no calibration"):
        FaceEngine.open(cfg)
    store = GalleryStore(cfg.galleries_dir)
    for name in cfg.gallery_names():
        store.save_calibration(name, calibrate(rng.normal(0, 0.1, 20000), 1e-4))
    engine = FaceEngine.open(cfg)
    assert 0.2 < engine.galleries["watchlist"].threshold < 0.5
    engine.close()
    other = cfg.model_copy(update={"galleries": {"watchlist": GalleryPolicy(target_fmr=1e-5)}})
    with pytest.raises(FaceSetupError, match="calibrated for FMR"):
        FaceEngine.open(other)
    for name in cfg.gallery_names():
        store.path(name).with_suffix(".calib.json").unlink()


def test_model_hash_mismatch_is_a_profile_error(setup: FaceConfig, tmp_path: Path) -> None:
    bad = setup.model_copy(update={"detector": ModelFile(path=setup.detector.path, sha256="0" * 64),
                                   "embedder": ModelFile(path=tmp_path / "gone.onnx", sha256="1" * 64)})
    issues = check_models(bad)
    assert [path for path, _ in issues] == [("detector", "path"), ("embedder", "path")]
    assert "SHA-256" in issues[0][1] and "missing" in issues[1][1]


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    plugin.gatecore_add_commands(subparsers=sub)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def test_enroll_calibrate_and_info_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((40, 128)).astype(np.float32)
    np.save(tmp_path / "w.npy", vecs)
    (tmp_path / "w.ids.txt").write_text("\n".join(f"w{i}" for i in range(40)))
    assert run_cli(["face", "enroll", "watchlist", "--embeddings", str(tmp_path / "w.npy"),
                    "--dir", str(tmp_path / "g")]) == 0
    assert "enrolled 40 identities" in capsys.readouterr().out
    labels = np.repeat(np.arange(100), 2)
    calib = np.repeat(rng.standard_normal((100, 128)), 2, axis=0) + 0.3 * rng.standard_normal((200, 128))
    np.save(tmp_path / "c.npy", calib.astype(np.float32))
    (tmp_path / "c.txt").write_text("\n".join(map(str, labels)))
    assert run_cli(["face", "calibrate", "watchlist", "--embeddings", str(tmp_path / "c.npy"),
                    "--labels", str(tmp_path / "c.txt"), "--target-fmr", "1e-3",
                    "--dir", str(tmp_path / "g")]) == 0
    assert run_cli(["face", "info", "--dir", str(tmp_path / "g")]) == 0
    out = capsys.readouterr().out
    assert "watchlist: 40 identities, dim 128" in out and "@ FMR 0.001" in out
    assert run_cli(["face", "enroll", "watchlist", "--images", str(tmp_path)]) == 2


def test_enroll_images_with_the_profile_models(setup: FaceConfig, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    for person, identity in (("P-1", 1), ("P-2", 2), ("P-0", 0)):
        (tmp_path / "img" / person).mkdir(parents=True)
        assert cv2.imwrite(str(tmp_path / "img" / person / "a.png"), face_image(identity))
    profile = tmp_path / "site.toml"
    profile.write_text(f"""
[plugins.gate_face]
family = "insightface"
detector = {{ path = "{setup.detector.path}", sha256 = "{setup.detector.sha256}" }}
embedder = {{ path = "{setup.embedder.path}", sha256 = "{setup.embedder.sha256}" }}
detector_input = [320, 320]
galleries_dir = "{tmp_path / 'g'}"
""")
    assert run_cli(["face", "enroll", "staff", "--images", str(tmp_path / "img"),
                    "--profile", str(profile)]) == 0
    out = capsys.readouterr().out
    assert "enrolled 2 identities, rejected 2 inputs" in out and "no_face" in out
    assert sorted(GalleryStore(tmp_path / "g").load("staff").ids()) == ["P-1", "P-2"]
