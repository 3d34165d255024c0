"""The demo decides on real evidence: ``profiles/demo.toml`` uses no ``sim.evidence``, and its decisions about
the simulated world's travellers agree with the world's truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gatecore.plugins import make_manager
from gatecore.profile import load_profile

DEMO = Path("profiles/demo.toml")


@pytest.mark.usefixtures("demo_assets")
def test_the_demo_profile_has_no_simulated_evidence_source() -> None:
    profile = load_profile(DEMO, make_manager())
    kinds = {ev.kind for lane in profile.lanes for ev in lane.evidence}
    assert "sim.evidence" not in kinds
    assert {"barcode.pass", "face.match"} <= kinds


@pytest.mark.usefixtures("demo_assets")
def test_100_demo_crossings_agree_with_the_worlds_truth() -> None:
    done = subprocess.run([sys.executable, "-m", "gatecore.cli", "run", str(DEMO), "--crossings", "100",
                           "--log-format", "json", "--log-level", "warning"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    truth = summary["truth"]
    assert truth["of"] >= 50  # the e-gates' share of the 100 crossings, each judged
    assert truth["agree"] >= 0.99 * truth["of"], truth["disagreements"]
    assert len(truth["disagreements"]) == truth["of"] - truth["agree"]
    assert truth["table"]["valid pass, enrolled face"].get("pass", 0) > 0
    assert sum(summary["flows"]["passenger"]["decisions"].values()) >= truth["of"]
