"""gate_sim: cameras, scheduled faults and traffic, through a real site."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from gatecore.api import LaneState, Outcome
from gatecore.testing import make_site, running, wait_for

from .conftest import SITE, lane_toml

CAMERA = '  [[lanes.devices]]\n  kind = "sim.camera"\n  role = "cam"\n'


async def test_camera_replays_image_files_in_order(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((20, 30, 3), 40 * (i + 1), np.uint8))
    from . import scripted

    text = SITE + lane_toml() + CAMERA + f'  images = "{frames}"\n'
    site, _ = make_site(text, tmp_path, {"scripted": scripted})
    cam = site.lanes["l1"].devices["cam"]
    shots = [await cam.grab() for _ in range(3)]  # type: ignore[attr-defined]
    assert [s.meta["file"] for s in shots] == ["0.png", "1.png", "0.png"]
    assert shots[1].payload.shape == (20, 30, 3) and int(shots[1].payload[0, 0, 0]) == 80


async def test_camera_generates_frames_of_the_configured_size(tmp_path: Path) -> None:
    from . import scripted

    site, _ = make_site(SITE + lane_toml() + CAMERA + "  size = [64, 48]\n", tmp_path, {"scripted": scripted})
    cam = site.lanes["l1"].devices["cam"]
    a, b = await cam.grab(), await cam.grab()  # type: ignore[attr-defined]
    assert a.payload.shape == (48, 64, 3) and a.payload.dtype == np.uint8
    assert not np.array_equal(a.payload, b.payload)


async def test_traffic_and_a_scheduled_fault_run_a_lane_end_to_end(tmp_path: Path) -> None:
    traffic = "traffic = true\narrivals_per_min = 600\ndwell_ms = 10\nofficer_ms = 10"
    text = SITE.replace("traffic = false", traffic) + """
[[plugins.gate_sim.faults]]
lane = "l1"
role = "barrier"
mode = "drop"
at_s = 0.3
for_s = 0.2
""" + lane_toml().replace('kind = "scripted"', 'kind = "sim.evidence"\n  latency_ms = [1.0, 5.0]')
    site, rec = make_site(text, tmp_path)
    async with running(site):
        await wait_for(lambda: site.lanes["l1"].crossings >= 12 and rec.faults, timeout=30)
    assert any(c.new is LaneState.DEGRADED for c in rec.states)
    assert rec.faults[0].kind == "device_offline" and rec.faults[0].device == "barrier"
    assert {d.outcome for d in rec.decisions} >= {Outcome.PASS}
    assert all(d.evidence["a"].summary["simulated"] for d in rec.decisions if "a" in d.evidence)


async def test_traffic_drives_through_on_pass_and_leaves_on_refusal_without_stalling_the_lane(
    tmp_path: Path,
) -> None:
    traffic = "traffic = true\narrivals_per_min = 1200\ndwell_ms = 5\nofficer_ms = 20"
    evidence = ('kind = "sim.evidence"\n  latency_ms = [0.0, 0.0]\n'
                "  pass_weight = 1.0\n  deny_weight = 0.5\n  refer_weight = 0.5")
    text = SITE.replace("traffic = false", traffic) + lane_toml().replace('kind = "scripted"', evidence)
    site, rec = make_site(text, tmp_path)
    lane = site.lanes["l1"]
    async with running(site):
        await wait_for(lambda: lane.crossings >= 30, timeout=30)
    outcomes = [d.outcome for d in rec.decisions]
    assert {Outcome.PASS, Outcome.DENY, Outcome.REFER} <= set(outcomes)
    assert not rec.faults  # every vehicle left the lane: no clear timeout, no missing confirmation
    opens = [c for c in lane.barrier.commands if c[1] == "open"]  # type: ignore[attr-defined]
    passes = outcomes.count(Outcome.PASS)  # opened on each PASS (the last may be cut by the stop), never otherwise
    assert passes - 1 <= len(opens) <= passes


async def test_a_referred_arrival_waits_for_the_officer_and_drives_through_on_their_pass_only(
    tmp_path: Path,
) -> None:
    """While the lane waits for an officer the simulated traveller waits too: the officer's PASS lets it
    through (the barrier opens once, for that crossing), their DENY sends the next one away."""
    traffic = "traffic = true\narrivals_per_min = 600\ndwell_ms = 5\nofficer_ms = 20"
    evidence = ('kind = "sim.evidence"\n  latency_ms = [0.0, 0.0]\n'
                "  pass_weight = 0.0\n  deny_weight = 0.0\n  refer_weight = 1.0")
    text = SITE.replace("traffic = false", traffic) + lane_toml().replace('kind = "scripted"', evidence).replace(
        "refer_hold_ms = 0", "refer_hold_ms = 0\n  officer_timeout_ms = 10000").replace(
        "clear_timeout_ms = 600", "clear_timeout_ms = 5000")
    site, rec = make_site(text, tmp_path)
    lane = site.lanes["l1"]
    async with running(site):
        for n, outcome in enumerate((Outcome.PASS, Outcome.DENY)):
            await wait_for(lambda n=n: lane.referral is not None and lane.crossings == n, timeout=10)
            referral = lane.referral
            assert referral is not None
            assert site.resolve("l1", referral.txn_id, outcome, "officer.7", "checked") is None
            await wait_for(lambda n=n: lane.crossings == n + 1, timeout=10)  # through, or away
    opens = [c for c in lane.barrier.commands if c[1] == "open"]  # type: ignore[attr-defined]
    officers = [(d.outcome, d.officer) for d in rec.decisions if d.officer]
    assert officers == [(Outcome.PASS, "officer.7"), (Outcome.DENY, "officer.7")]
    assert len(opens) == 1 and not rec.faults
