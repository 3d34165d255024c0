"""`gatecore run`: the demo to its summary, and a clean shutdown on SIGTERM / SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

GATECORE = [sys.executable, "-m", "gatecore.cli"]


def run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GATECORE, *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.usefixtures("demo_assets")
def test_demo_runs_to_its_summary() -> None:
    # 120: each referral the demo's lanes make waits for an officer (officer_timeout_ms), and nobody answers here
    done = run("run", "profiles/demo.toml", "--crossings", "120", "--log-format", "json")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["crossings_completed"] >= 120 and summary["stopped"] == "120 crossings"
    assert sum(summary["decisions"].values()) >= summary["crossings_completed"]  # some lanes were mid-crossing
    assert set(summary["decisions"]) == {"pass", "deny", "refer"}
    assert summary["decisions"]["pass"] >= 90 and summary["decisions"]["refer"] > 0
    assert summary["faults"] >= 1  # the demo's scheduled barrier drop
    assert 0 < summary["decision_p50_ms"] <= summary["decision_p99_ms"]
    events = [json.loads(ln) for ln in lines[:-1]]
    assert {"decision", "lane_degraded", "lane_recovered", "site_stopped"} <= {e["event"] for e in events}
    decisions = [e for e in events if e["event"] == "decision"]
    assert all({"lane", "txn", "outcome", "latency_ms"} <= set(e) for e in decisions)


@pytest.mark.usefixtures("demo_assets")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_site_cleanly_with_barriers_closed(sig: signal.Signals, tmp_path: Path) -> None:
    proc = subprocess.Popen([*GATECORE, "run", "profiles/demo.toml", "--log-format", "json", "--log-level", "debug"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    seen = 0
    for line in proc.stdout:  # wait for a few decisions
        seen += '"decision"' in line
        if seen >= 3 or time.monotonic() > deadline:
            break
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    events = [json.loads(ln) for ln in out.strip().splitlines()[:-1]]
    names = [e["event"] for e in events]
    assert "site_stopping" in names and names.index("site_stopped") > names.index("site_stopping")
    stopped = next(e for e in events if e["event"] == "site_stopped")
    assert stopped["seconds"] < 5.0  # within the profile's shutdown_timeout_s
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["stopped"] == sig.name and "crossings_completed" in summary


def test_run_refuses_an_invalid_profile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[site]\nid = "x"\n[[lanes]]\nid = "l"\n')
    done = run("run", str(bad))
    assert done.returncode == 2
    assert f"{bad}:3:1: lanes[0].barrier: no device with role 'barrier'" in done.stderr


def test_plugins_command_lists_plugins_versions_and_hooks() -> None:
    done = run("plugins")
    assert done.returncode == 0
    assert "evidence_votes 0.1.0 (builtin)" in done.stdout
    assert "gate_sim 0.1.0 (gatecore)" in done.stdout
    assert "    gatecore_make_device" in done.stdout
