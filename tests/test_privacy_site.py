"""Nothing personal leaves the controller: a whole site, every first-party plugin that runs without hardware,
and a plugin that puts document numbers and names into every free field it can reach.

`gatecore run` runs a site with gate_sim (devices, traffic), gate_barcode (a generated, signed pass on
a camera, whose subject and reference are document numbers), gate_face (generated models; the traveller
enrolled under a document number), gate_plate (the shipped models read a rendered truck front whose plate
the manifest lists under a document number), gate_ioc (the local JSONL transport, with a doc_salt),
gate_metrics (on 127.0.0.1:0), and ``tests/leaky.py`` registered by entry point like a vendor's plugin. After some
crossings the metrics are scraped and the site is stopped with SIGINT. Then everything that left the
controller - the IOC's JSONL file, the log (JSON lines on stdout), the metrics text and the run's summary
(stdout and stderr) - is searched for the leaky plugin's values: none is there, while the fields that
were declared safe are (the score, the keyed hash of the declared reference, the faults of the plugin).

On main before the allow-list (81f2458) this test fails: run there with this plugin's declaration removed
(main's ``gatecore.api`` has no ``Reports``), the four values occur 598 times in the IOC records (summary
keys and values such as ``holder``, ``docno``, ``given``, the evidence kind and reason, vote reasons,
exception messages in fault records) and 251 times in the log (fault messages, ``reason``/``error`` free
text), none in the metrics or the summary.

A plugin's own log call with a bare id-like value under an id key (``lane="C1234567"``) is not caught:
the allow-list cannot tell such an id from a document number, so the plugin's own logging here uses free
text only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from cryptography.hazmat.primitives.asymmetric import ed25519

from gate_barcode import synth
from gate_barcode.passes import Issuer
from gate_barcode.trust import trust_list_json, trusted_key
from gate_face import testing as face_testing
from gate_face.config import FaceConfig, ModelFile
from gate_face.engine import make_pipeline
from gate_face.index import EmbeddingIndex
from gate_face.models import sha256_file
from gate_face.store import GalleryStore
from gate_plate import models as plate_models
from gatecore.api import keyed_ref
from tools.plates import scenes

from .leaky import CCCD, DOC, NAME, NAME_VI, VALUES

ROOT = Path(__file__).resolve().parent.parent
SALT = "salt-of-the-site"
DECISIONS = 24  # crossings decided before the metrics are scraped and the site is stopped
#: a truck front (tools.plates) whose plate the cargo lane reads with the shipped models: plates are personal data
#: (the lane is there once the models are: they come from the plates-detect and plates-recog work)
PLATES_SHIPPED = all(plate_models.problem(plate_models.SHIPPED / name) is None for name in ("detect", "recog"))
TRUCK = scenes.scene(np.random.default_rng(20261203), strength=0.3)
PLATE = next(t.sample for t in TRUCK.targets if t.kind == "plate").text
PRINTED = "".join(next(t.sample for t in TRUCK.targets if t.kind == "plate").rows)

LANES = """
[[lanes]]
id = "egate-1"
trigger = "entry"
exit = "exit"
lights = "lights"
display = "display"
policy = {{ require = ["pass", "face"], deadline_ms = 3000, refer_hold_ms = 0, recover_every_ms = 50 }}
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
  kind = "leaky.lights"
  role = "lights"
  [[lanes.devices]]
  kind = "sim.display"
  role = "display"
  [[lanes.devices]]
  kind = "sim.camera"
  role = "face"
  images = "{faces}"
  [[lanes.devices]]
  kind = "sim.camera"
  role = "pass-cam"
  images = "{passes}"
  [[lanes.evidence]]
  kind = "barcode.pass"
  source = "pass"
  camera = "pass-cam"
  frame_interval_ms = 5
  deadline_ms = 2500
  [[lanes.evidence]]
  kind = "face.match"
  source = "face"
  camera = "face"
  claim_wait_ms = 2000
  deadline_ms = 2500
  [[lanes.evidence]]
  kind = "leaky.evidence"
  source = "leak"

[[lanes]]
id = "cargo-1"
trigger = "qr"
exit = "exit"
lights = "lights"
display = "display"
policy = {{ require = ["pass", "plate"], deadline_ms = 1500, refer_hold_ms = 0, recover_every_ms = 50 }}
  [[lanes.devices]]
  kind = "sim.reader"
  role = "qr"
  [[lanes.devices]]
  kind = "sim.presence"
  role = "exit"
  [[lanes.devices]]
  kind = "sim.barrier"
  role = "barrier"
  travel_ms = 10
  [[lanes.devices]]
  kind = "leaky.lights"
  role = "lights"
  [[lanes.devices]]
  kind = "sim.display"
  role = "display"
  [[lanes.evidence]]
  kind = "barcode.pass"
  source = "pass"
  reader = "qr"
  [[lanes.evidence]]
  kind = "sim.evidence"
  source = "plate"
  latency_ms = [1.0, 5.0]
  [[lanes.evidence]]
  kind = "leaky.evidence"
  source = "leak"

{plate_lane}
"""

PLATE_LANE = """
[[lanes]]
id = "cargo-2"
exit = "exit"
policy = {{ require = ["plate"], deadline_ms = 1500, refer_hold_ms = 0, recover_every_ms = 50 }}
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
  kind = "sim.camera"
  role = "plate-front"
  images = "{plates}"
  [[lanes.evidence]]
  kind = "plate.vehicle"
  source = "plate"
  cameras = ["plate-front"]
  window_ms = 600
  deadline_ms = 1200
"""

SITE = """
[site]
id = "test/privacy"
[logging]
level = "debug"
[run]
shutdown_timeout_s = 5.0
[plugins.gate_sim]
seed = 7
arrivals_per_min = 600
dwell_ms = 10
officer_ms = 10
[plugins.gate_barcode]
trust_list = "{trust}"
state_dir = "{tmp}/barcode"
hold_s = 0
replay_window_s = 0
budget_ms = 200
[plugins.gate_face]
family = "insightface"
detector = {{ path = "{det}", sha256 = "{det_sha}" }}
embedder = {{ path = "{emb}", sha256 = "{emb_sha}" }}
detector_input = [320, 320]
galleries_dir = "{tmp}/galleries"
residents = "residents"
reload_every_s = 0
galleries.travellers = {{ threshold = 0.9 }}
galleries.watchlist = {{ threshold = 0.9 }}
galleries.residents = {{ threshold = 0.9 }}
[plugins.gate_ioc]
outbox = {{ path = "{tmp}/box.sqlite", synchronous = "normal" }}
local_path = "{tmp}/ioc.jsonl"
heartbeat_s = 0.5
doc_salt = "env:LEAKY_DOC_SALT"
[plugins.gate_metrics]
listen = "127.0.0.1:0"
[plugins.gate_plate]
manifest = {{ path = "{tmp}/manifest.csv" }}
"""


def face_image(identity: int, jitter: int = 0) -> np.ndarray[Any, Any]:
    image = np.zeros((320, 320, 3), np.uint8)
    face_testing.draw_face(image, 4, 5, identity, jitter=jitter)
    return image


def write_site(tmp: Path) -> Path:
    """Models, galleries (the traveller enrolled under a document number), a signed pass whose subject and
    reference are document numbers, on a camera frame; and the profile."""
    det, emb = face_testing.make_scrfd_like(tmp / "det.onnx"), face_testing.make_embedder(tmp / "emb.onnx")
    cfg = FaceConfig(family="insightface", detector=ModelFile(path=det, sha256=sha256_file(det)),
                     embedder=ModelFile(path=emb, sha256=sha256_file(emb)), detector_input=(320, 320),
                     galleries_dir=tmp / "galleries")
    pipe, store = make_pipeline(cfg), GalleryStore(tmp / "galleries")
    for gallery, who, identity in (("travellers", CCCD, 1), ("watchlist", NAME_VI, 9), ("residents", NAME, 3)):
        index = EmbeddingIndex(512)
        embedding = pipe.process(face_image(identity)).embedding
        assert embedding is not None
        index.add([who], embedding)
        store.save(gallery, index)
    faces = tmp / "faces"
    faces.mkdir()
    for i in range(3):
        cv2.imwrite(str(faces / f"{i}.png"), face_image(1, jitter=2 + i))
    issuer = Issuer("VN-MC", ed25519.Ed25519PrivateKey.generate())
    now = datetime.now(UTC)
    trust = tmp / "trust.json"
    trust.write_text(trust_list_json([trusted_key(issuer.key.public_key(), "VN-MC", now - timedelta(days=10),
                                                  now + timedelta(days=300))]))
    t = int(time.time())
    text = issuer.issue(CCCD, "resident", t - 3600, t + 86_400, issued_at=t - 3600, ref=DOC)
    passes = tmp / "passes"
    passes.mkdir()
    frame, _ = synth.make_frame(np.random.default_rng(5), "clean", n_codes=1, mix={"EAN13": 1.0},
                                height=540, width=960)
    synth.paste(frame, synth.render(text, "QRCode"), np.array([[600, 120], [840, 120], [840, 360], [600, 360]],
                                                              np.float32))
    cv2.imwrite(str(passes / "frame.png"), cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    plates = tmp / "plates"
    plates.mkdir()
    cv2.imwrite(str(plates / "truck.png"), TRUCK.image)
    (tmp / "manifest.csv").write_text(f"plate,ref\n{PLATE},{DOC}\n", encoding="utf-8")  # a document as the ref
    profile = tmp / "site.toml"
    plate_lane = PLATE_LANE.format(plates=plates) if PLATES_SHIPPED else ""
    profile.write_text(SITE.format(tmp=tmp, trust=trust, det=det, det_sha=sha256_file(det), emb=emb,
                                   emb_sha=sha256_file(emb)) + LANES.format(faces=faces, passes=passes,
                                                                            plate_lane=plate_lane))
    return profile


def install_leaky(tmp: Path) -> Path:
    """A directory that makes ``tests/leaky.py`` an installed plugin (its ``gatecore`` entry point)."""
    where = tmp / "site-packages"
    dist = where / "leaky_plugin-0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: leaky-plugin\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text("[gatecore]\nleaky = tests.leaky\n")
    return where


class Output:
    """The lines of a stream, read by a thread; :meth:`wait` until a predicate of them holds."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # the end
            self._changed.notify_all()

    def wait(self, predicate: Any, timeout: float) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: predicate(self.lines) or self.lines[-1:] == [""], timeout), \
                "timed out"
        assert predicate(self.lines), "the run ended first:\n" + "".join(self.lines[-30:])

    def join(self, timeout: float) -> str:
        self._thread.join(timeout)
        return "".join(self.lines)


def events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line.startswith('{"') and '"event"' in line]


def test_nothing_personal_leaves_the_controller(tmp_path: Path) -> None:
    profile, plugins = write_site(tmp_path), install_leaky(tmp_path)
    code = f"import sys; sys.path.insert(0, {str(plugins)!r}); from gatecore.cli import main; sys.exit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "run", str(profile), "--log-format", "json", "--duration", "600"],
        cwd=ROOT, env={**os.environ, "LEAKY_DOC_SALT": SALT}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, encoding="utf-8")
    try:
        out, errors = Output(proc.stdout), Output(proc.stderr)

        def decided(lines: list[str]) -> bool:
            return sum('"event":"decision"' in line for line in lines) >= DECISIONS

        out.wait(lambda lines: any('"metrics_serving"' in line for line in lines) and decided(lines), 300)
        url = next(e["url"] for e in events(out.lines) if e["event"] == "metrics_serving")
        with urllib.request.urlopen(url, timeout=10) as response:
            metrics = response.read().decode()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    stdout, err = out.join(10), errors.join(10)
    assert proc.returncode == 0, err[-3000:]
    ioc = (tmp_path / "ioc.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line)["record"] for line in ioc.splitlines()]
    logged = events(stdout.splitlines())

    # what left is there: the records, the log, the metrics, the summary, with the fields declared safe
    decisions = [r for r in records if r["schema"] == "gatecore.ioc.decision/1"]
    leak = [e for d in decisions for e in d["evidence"] if e["source"] == "leak"]
    assert leak and all(e["scores"] == {"score": 0.93, "seen": True, "pass_ref": keyed_ref(DOC, SALT.encode()),
                                        "stage": {"ms": 1.5}} for e in leak)
    assert {e["reason"] for e in leak} == {"seen", "[dropped]"}
    passes = [e for d in decisions for e in d["evidence"] if e["source"] == "pass" and e["reason"] == "ok"]
    assert passes and all(e["scores"]["pass_id_hash"].startswith("hmac-sha256:") for e in passes)
    faces = [e for d in decisions for e in d["evidence"] if e["source"] == "face"]
    assert any(e["reason"] == "match" and e["scores"]["verify_score"] >= 0.9 for e in faces)
    assert any(v["reason"] == "[dropped]" for d in decisions for v in d["votes"])
    plates = [e for d in decisions for e in d["evidence"] if e["source"] == "plate" and d["lane"] == "cargo-2"]
    assert not PLATES_SHIPPED or any(
        e["reason"] == "manifest_match" and e["scores"]["plate"] == keyed_ref(PLATE, SALT.encode())
        and e["scores"]["manifest_ref"] == keyed_ref(DOC, SALT.encode()) for e in plates), plates[:3]
    faults = {(r["kind"], r.get("device")) for r in records if r["schema"] == "gatecore.ioc.fault/1"}
    assert {("plugin_failed", None), ("command_failed", "lights"), ("report_failed", None)} <= faults
    seen = {e["event"] for e in logged}
    assert {"decision", "lane_degraded", "hook_failed", "task_crashed", "privacy_dropped", "site_stopped"} <= seen
    places = {e["place"] for e in logged if e["event"] == "privacy_dropped"}  # the first drop at each place
    assert {"decision.summary/leaky.evidence", "decision.reason/leaky.evidence", "vote.reason/leaky"} <= places
    dropped = next(e for e in logged if e["event"] == "site_stopped")["privacy_dropped"]
    print("privacy drops by place:", json.dumps(dropped, indent=1, sort_keys=True))
    assert dropped["decision.summary/leaky.evidence"] >= len(leak) * 12 and dropped["log"] > 0
    assert "gatecore_decisions_total{" in metrics and "gatecore_privacy_dropped_total " in metrics
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["stopped"] == "SIGINT" and sum(summary["decisions"].values()) >= DECISIONS

    # ...and nothing personal is
    left = {"IOC records": ioc, "log and summary (stdout)": stdout, "stderr": err, "metrics": metrics}
    forms = {form for value in (*VALUES, PLATE, PRINTED) for form in (value, value.lower(), json.dumps(value)[1:-1])}
    found = {(where, form) for where, text in left.items() for form in forms if form in text}
    assert not found, found
