"""gate_face inside a whole simulated site: profile validation and crossings decided by face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pluggy
import pytest

import gate_face
from gate_face import testing
from gate_face.config import FaceConfig, ModelFile
from gate_face.engine import make_pipeline
from gate_face.index import EmbeddingIndex
from gate_face.models import sha256_file
from gate_face.store import GalleryStore
from gatecore.plugins import make_manager, register
from gatecore.profile import ProfileError, load_profile
from gatecore.site import Site
from gatecore.testing import running, wait_for


def manager() -> pluggy.PluginManager:
    pm = make_manager()
    if pm.get_plugin("gate_face") is None:
        register(pm, gate_face, "gate_face")
    return pm


def write_profile(tmp: Path, identity: int, det_sha: str | None = None, camera: str = "face") -> Path:
    det, emb = testing.make_scrfd_like(tmp / "det.onnx"), testing.make_embedder(tmp / "emb.onnx")
    frames = tmp / f"frames-{identity}"
    frames.mkdir()
    for i in range(3):
        image = np.zeros((320, 320, 3), np.uint8)
        testing.draw_face(image, 4, 5, identity, jitter=2 + i)
        cv2.imwrite(str(frames / f"{i}.png"), image)
    profile = tmp / f"site-{identity}.toml"
    profile.write_text(f"""
[site]
id = "test/face"
[logging]
level = "warning"
[plugins.gate_sim]
seed = 3
arrivals_per_min = 600
dwell_ms = 10
officer_ms = 10
[plugins.gate_face]
family = "insightface"
detector = {{ path = "{det}", sha256 = "{det_sha or sha256_file(det)}" }}
embedder = {{ path = "{emb}", sha256 = "{sha256_file(emb)}" }}
detector_input = [320, 320]
galleries_dir = "{tmp / 'galleries'}"
residents = "residents"
galleries.travellers = {{ threshold = 0.9 }}
galleries.watchlist = {{ threshold = 0.9 }}
galleries.residents = {{ threshold = 0.9 }}
[[lanes]]
id = "egate-1"
trigger = "entry"
exit = "exit"
display = "display"
policy = {{ require = ["face"], deadline_ms = 3000, refer_hold_ms = 0 }}
  [[lanes.devices]]
  kind = "sim.presence"
  role = "entry"
  [[lanes.devices]]
  kind = "sim.presence"
  role = "exit"
  [[lanes.devices]]
  kind = "sim.barrier"
  role = "barrier"
  travel_ms = 10
  [[lanes.devices]]
  kind = "sim.display"
  role = "display"
  [[lanes.devices]]
  kind = "sim.camera"
  role = "face"
  images = "{frames}"
  [[lanes.evidence]]
  kind = "face.match"
  source = "face"
  camera = "{camera}"
  claim_wait_ms = 20
  deadline_ms = 2500
""")
    return profile


def enroll(tmp: Path, galleries: tuple[tuple[str, list[int]], ...] = (
        ("travellers", [1]), ("watchlist", [9]), ("residents", [3]))) -> None:
    """Write the galleries (people by identity) as ``gatecore face enroll`` would, from drawn faces."""
    det, emb = tmp / "det.onnx", tmp / "emb.onnx"
    cfg = FaceConfig(family="insightface", detector=ModelFile(path=det, sha256=sha256_file(det)),
                     embedder=ModelFile(path=emb, sha256=sha256_file(emb)), detector_input=(320, 320),
                     galleries_dir=tmp / "galleries")
    pipe = make_pipeline(cfg)
    store = GalleryStore(tmp / "galleries")
    for name, people in galleries:
        index = EmbeddingIndex(512)
        for p in people:
            image = np.zeros((320, 320, 3), np.uint8)
            testing.draw_face(image, 4, 5, p)
            result = pipe.process(image)
            assert result.embedding is not None
            index.add([f"ref-{p}"], result.embedding)
        store.save(name, index)


def test_check_reports_an_altered_model_at_its_line(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, 3, det_sha="ab" * 32)
    with pytest.raises(ProfileError) as err:
        load_profile(profile, manager())
    text = str(err.value)
    assert "plugins.gate_face.detector.path" in text and "SHA-256" in text


def test_check_reports_a_face_source_without_its_camera(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, 3, camera="face-cam")
    enroll(tmp_path)
    with pytest.raises(ProfileError) as err:
        load_profile(profile, manager())
    assert "lanes[0].evidence[0].camera" in str(err.value) and "'face-cam'" in str(err.value)


@pytest.mark.parametrize(("identity", "outcome"), [(3, "pass"), (9, "deny"), (5, "refer")])
async def test_crossings_are_decided_by_the_face(tmp_path: Path, identity: int, outcome: str) -> None:
    profile = write_profile(tmp_path, identity)
    enroll(tmp_path)
    site = Site(load_profile(profile, manager()), manager())
    await site.run(crossings=2, duration=30)
    summary = site.summary()
    assert summary["crossings_completed"] >= 2
    assert summary["decisions"][outcome] == sum(summary["decisions"].values())


async def test_a_gallery_travels_to_another_controller_as_snapshot_then_delta(tmp_path: Path) -> None:
    """Two controllers: changes on one reach the other through the shared-state hooks."""
    from gate_face import share
    from gate_face.plugin import FACE
    from gatecore.api import SharedState, SiteView, hookimpl

    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir(), b_dir.mkdir()
    sites = []
    for d in (a_dir, b_dir):
        profile = write_profile(d, 3)
        enroll(d)
        sites.append(Site(load_profile(profile, manager()), manager()))
    a, b = sites
    carried: list[SharedState] = []

    class Wire:  # a transport plugin: what site A shares, site B applies
        @hookimpl
        async def gatecore_share_state(self, site: SiteView, update: SharedState) -> None:
            carried.append(SharedState.from_record(update.to_record()))
            assert await b.apply_state(carried[-1])

    register(a.pm, Wire(), "wire")
    watch_a = a.stash[FACE].engine.galleries["watchlist"].index
    watch_b = b.stash[FACE].engine.galleries["watchlist"].index
    rng = np.random.default_rng(1)
    watch_a.add(["new-1", "new-2"], rng.normal(size=(2, 512)).astype(np.float32))
    await a.share_state(share.snapshot(a, "watchlist", watch_a))
    assert sorted(watch_b.ids()) == sorted(watch_a.ids()) and watch_b.version == watch_a.version
    since = watch_a.version
    watch_a.remove(["new-1"])
    watch_a.upsert(["new-3"], rng.normal(size=(1, 512)).astype(np.float32))
    await a.share_state(share.delta(a, "watchlist", watch_a, since))
    assert [u.kind for u in carried] == ["snapshot", "delta"]
    assert sorted(watch_b.ids()) == sorted(watch_a.ids()) and watch_b.version == watch_a.version
    np.testing.assert_array_equal(watch_b.vector("new-3"), watch_a.vector("new-3"))
    stale = share.delta(a, "watchlist", watch_a, since)  # B is past it now
    assert not await b.apply_state(stale)
    for site in sites:
        site.stash[FACE].engine.close()


async def test_a_newer_gallery_file_replaces_the_one_in_use_and_is_shared(tmp_path: Path) -> None:
    """Resident 3 passes; once a new watchlist file naming 3 is written beside the running site, the
    site loads it by itself, denies 3, and shares the new watchlist (share_galleries)."""
    from gate_face.plugin import FACE
    from gatecore.api import SharedState, SiteView, hookimpl

    profile = write_profile(tmp_path, 3)
    enroll(tmp_path)
    profile.write_text(profile.read_text().replace(
        "galleries.residents = { threshold = 0.9 }",
        'galleries.residents = { threshold = 0.9 }\nreload_every_s = 0.05\nshare_galleries = ["watchlist"]'))
    shared: list[SharedState] = []

    class Wire:
        @hookimpl
        def gatecore_share_state(self, site: SiteView, update: SharedState) -> None:
            shared.append(update)

    pm = manager()
    register(pm, Wire(), "wire")
    site = Site(load_profile(profile, pm), pm)
    lane = site.lanes["egate-1"]
    async with running(site, timeout=30):
        await wait_for(lambda: lane.decisions["pass"] >= 1, timeout=30)
        before = site.stash[FACE].engine.galleries["watchlist"].index.version
        assert [(u.name, u.kind, u.version) for u in shared] == [("gate_face/watchlist", "snapshot", before)]
        enroll(tmp_path, (("watchlist", [9, 3]),))  # an officer enrolls 3 on the watchlist, on disk
        await wait_for(lambda: site.stash[FACE].engine.galleries["watchlist"].index.version > before, timeout=10)
        denied = lane.decisions["deny"]
        await wait_for(lambda: lane.decisions["deny"] > denied, timeout=30)
        assert len(shared) == 2 and shared[1].version > before
    assert sorted(site.stash[FACE].engine.galleries["watchlist"].index.ids()) == ["ref-3", "ref-9"]


def test_check_refuses_sharing_a_gallery_not_in_use(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, 3)
    enroll(tmp_path)
    line = "galleries.residents = { threshold = 0.9 }"
    profile.write_text(profile.read_text().replace(line, line + '\nshare_galleries = ["vip"]'))
    with pytest.raises(ProfileError) as err:
        load_profile(profile, manager())
    text = str(err.value)
    assert "plugins.gate_face" in text and "share_galleries: vip is not one of the galleries" in text


def test_a_first_start_with_a_cold_kernel_cache_still_decides_the_first_crossings_on_the_face(
        tmp_path: Path) -> None:
    """The search kernels are compiled while the site is built (seconds with no numba cache), not during
    the first crossing, whose face evidence would otherwise miss its deadline."""
    import json
    import os
    import subprocess
    import sys

    profile = write_profile(tmp_path, 3)
    enroll(tmp_path)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}  # empty: nothing compiled yet
    proc = subprocess.run([sys.executable, "-m", "gatecore.cli", "run", str(profile), "--crossings", "2",
                           "--duration", "240"], capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["crossings_completed"] >= 2 and summary["decisions"]["pass"] >= 2
    assert summary["decisions"]["refer"] == summary["decisions"]["deny"] == 0
