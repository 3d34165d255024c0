"""gate_face inside a whole simulated site: profile validation and crossings decided by face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pluggy
import pytest

import plugins.gate_face
from gatecore.plugins import make_manager, register
from gatecore.profile import ProfileError, load_profile
from gatecore.site import Site
from plugins.gate_face import testing
from plugins.gate_face.config import FaceConfig, ModelFile
from plugins.gate_face.engine import make_pipeline
from plugins.gate_face.index import EmbeddingIndex
from plugins.gate_face.models import sha256_file
from plugins.gate_face.store import GalleryStore


def manager() -> pluggy.PluginManager:
    pm = make_manager()
    if pm.get_plugin("gate_face") is None:
        register(pm, plugins.gate_face, "gate_face")
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
  kind = "face"
  source = "face"
  camera = "{camera}"
  claim_wait_ms = 20
  deadline_ms = 2500
""")
    return profile


def enroll(tmp: Path) -> None:
    det, emb = tmp / "det.onnx", tmp / "emb.onnx"
    cfg = FaceConfig(family="insightface", detector=ModelFile(path=det, sha256=sha256_file(det)),
                     embedder=ModelFile(path=emb, sha256=sha256_file(emb)), detector_input=(320, 320),
                     galleries_dir=tmp / "galleries")
    pipe = make_pipeline(cfg)
    store = GalleryStore(tmp / "galleries")
    for name, people in (("travellers", [1]), ("watchlist", [9]), ("residents", [3])):
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
    assert summary["crossings"] >= 2
    assert summary["decisions"][outcome] == sum(summary["decisions"].values())
