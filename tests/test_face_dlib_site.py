"""A Bac Luan I e-gate with the dlib family, on real photographs (tests/face_photos.py): the traveller
enrolled from her photograph passes 1:1 on another capture, another person claiming her pass does not,
a person on the watchlist is denied."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

import cv2
import pytest

import gate_face
from gatecore.api import (
    Evidence,
    EvidenceConfig,
    EvidenceSource,
    LaneInfo,
    Outcome,
    Reports,
    TransactionContext,
    hookimpl,
)
from gatecore.cli import main
from gatecore.testing import make_site

from .face_photos import CAPTURES, capture, photos

PHOTOS = photos()


class PassConfig(EvidenceConfig):
    """A scanned pass that claims ``identity_ref`` (what gate_barcode gives for a real pass)."""

    reports: ClassVar[Reports] = Reports(("claimed",))
    kind: Literal["test.pass"]
    identity_ref: str


class ClaimedPass:
    def __init__(self, cfg: PassConfig) -> None:
        self.source, self.ref = cfg.source, cfg.identity_ref

    async def collect(self, txn: TransactionContext) -> Evidence:
        return Evidence(self.source, "test.pass", Outcome.PASS, reason="claimed", claims={"identity_ref": self.ref})


class PassPlugin:
    @hookimpl
    def gatecore_evidence_kinds(self) -> Sequence[type[EvidenceConfig]]:
        return [PassConfig]

    @hookimpl
    def gatecore_make_evidence_source(self, config: EvidenceConfig, lane: LaneInfo) -> EvidenceSource | None:
        return ClaimedPass(config) if isinstance(config, PassConfig) else None


def profile(tmp: Path, models: Path, frames: Path, claim: str) -> str:
    manifest = json.loads((models / "models.json").read_text())
    pins = "\n".join(f'{role} = {{ path = "{models / m["file"]}", sha256 = "{m["sha256"]}" }}'
                     for role, m in manifest["models"].items())
    return f"""
[site]
id = "mong-cai/bac-luan-1"
[logging]
level = "warning"
[plugins.gate_sim]
seed = 5
arrivals_per_min = 600
dwell_ms = 10
officer_ms = 10
[plugins.gate_face]
family = "dlib"
{pins}
face_px = [100, 300]
galleries_dir = "{tmp / 'galleries'}"
galleries.travellers = {{ threshold = 0.94 }}
galleries.watchlist = {{ threshold = 0.94 }}
[[lanes]]
id = "egate-1"
trigger = "entry"
exit = "exit"
display = "display"
policy = {{ require = ["face", "pass"], deadline_ms = 8000, refer_hold_ms = 0 }}
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
  kind = "test.pass"
  source = "pass"
  identity_ref = "{claim}"
  [[lanes.evidence]]
  kind = "face.match"
  source = "face"
  camera = "face"
  claim_wait_ms = 500
  deadline_ms = 6000
"""


def enroll(tmp: Path, site_profile: Path, gallery: str, people: dict[str, str]) -> None:
    """``gatecore face enroll GALLERY --images DIR --profile PROFILE``, one folder per identity, each
    holding the person's photograph."""
    root = tmp / f"enrol-{gallery}"
    for ref, person in people.items():
        (root / ref).mkdir(parents=True)
        cv2.imwrite(str(root / ref / f"{person}.png"), PHOTOS[person].image)
    assert main(["face", "enroll", gallery, "--images", str(root), "--profile", str(site_profile)]) == 0


@pytest.mark.parametrize(("person", "watchlisted", "outcome", "verdict"), [
    ("astronaut", "camera", Outcome.PASS, "match"),          # the pass holder herself, another capture
    ("hopper", "camera", Outcome.REFER, "no_match"),         # another person with her pass
    ("hopper", "hopper", Outcome.DENY, "watchlist_hit"),     # another person, on the watchlist
])
async def test_an_egate_decides_by_the_face_on_real_photographs(
        dlib_models: Path, tmp_path: Path, person: str, watchlisted: str, outcome: Outcome, verdict: str) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, c in enumerate(CAPTURES[:2]):
        cv2.imwrite(str(frames / f"{i}.jpg"), capture(PHOTOS[person], **c))  # type: ignore[arg-type]
    text = profile(tmp_path, dlib_models, frames, claim="P-1")
    site_file = tmp_path / "enrol.toml"
    site_file.write_text(text)
    enroll(tmp_path, site_file, "travellers", {"P-1": "astronaut"})
    enroll(tmp_path, site_file, "watchlist", {"W-1": watchlisted})
    site, rec = make_site(text, tmp_path, plugins={"gate_face": gate_face, "test_pass": PassPlugin()})
    await site.run(crossings=2, duration=120)
    assert len(rec.decisions) >= 2
    for decision in rec.decisions:
        face = decision.evidence["face"]
        assert decision.outcome is outcome and face.reason == verdict, (decision.reasons, face.summary)
        assert face.summary["faces"] == 1 and set(face.summary["timings_ms"]) >= {"detect", "landmarks", "embed"}


def test_check_reports_a_dlib_profile_without_landmarks_or_with_an_altered_file(
        dlib_models: Path, tmp_path: Path) -> None:
    from gatecore.plugins import make_manager, register
    from gatecore.profile import ProfileError, load_profile

    pm = make_manager()
    if pm.get_plugin("gate_face") is None:
        register(pm, gate_face, "gate_face")
    register(pm, PassPlugin(), "test_pass")
    frames = tmp_path / "frames"
    frames.mkdir()
    text = profile(tmp_path, dlib_models, frames, claim="P-1")
    path = tmp_path / "site.toml"
    path.write_text("\n".join(line for line in text.splitlines() if not line.startswith("landmarks = ")))
    with pytest.raises(ProfileError, match="family dlib needs landmarks"):
        load_profile(path, pm)
    altered = tmp_path / "landmarks.npz"
    altered.write_bytes((dlib_models / "shape_predictor_5_face_landmarks.npz").read_bytes() + b"\0")
    path.write_text(text.replace(str(dlib_models / "shape_predictor_5_face_landmarks.npz"), str(altered)))
    with pytest.raises(ProfileError) as err:
        load_profile(path, pm)
    assert "plugins.gate_face.landmarks.path" in str(err.value) and "SHA-256" in str(err.value)
