"""gate_sim's world: a lane's line of arrivals from a world index, what its reader and cameras show of
each, and the run's decisions judged against the truth the index gives."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gate_sim.world import WorldError, load_world
from gatecore.profile_read import ProfileError
from gatecore.testing import make_site

SITE = """
[site]
id = "test/world"
[run]
shutdown_timeout_s = 2.0
[plugins.gate_sim]
seed = 3
arrivals_per_min = 1200
dwell_ms = 5
officer_ms = 5
world = "{world}"
[[lanes]]
id = "egate"
flow = "passenger"
trigger = "qr"
exit = "exit"
policy = {{ require = ["pass"], deadline_ms = 1000, refer_hold_ms = 0, officer_timeout_ms = 10 }}
  [[lanes.devices]]
  kind = "sim.reader"
  role = "qr"
  [[lanes.devices]]
  kind = "sim.presence"
  role = "exit"
  [[lanes.devices]]
  kind = "sim.barrier"
  role = "barrier"
  travel_ms = 5
  [[lanes.devices]]
  kind = "sim.camera"
  role = "face-cam"
  shows = "face"
  [[lanes.evidence]]
  kind = "sim.evidence"
  source = "pass"
  pass_weight = 1
  deny_weight = 0
  refer_weight = 0
  latency_ms = [0, 0]
"""


def write_world(tmp: Path) -> Path:
    (tmp / "faces").mkdir()
    for i in (1, 2):
        cv2.imwrite(str(tmp / "faces" / f"{i}.png"), np.full((8, 8, 3), 100 * i, np.uint8))
    world = {"schema": "gate_sim.world/1", "seed": 3, "lanes": {"egate": [
        {"id": "a-1", "expect": ["pass"], "why": "valid", "pass_text": "GP1:ONE", "frames": {"face": "faces/1.png"}},
        {"id": "a-2", "expect": ["deny"], "why": "watchlisted", "pass_text": "GP1:TWO",
         "frames": {"face": "faces/2.png"}},
    ]}}
    path = tmp / "world.json"
    path.write_text(json.dumps(world))
    return path


async def test_a_camera_shows_the_frame_of_what_the_arrival_at_the_lane_holds_up(tmp_path: Path) -> None:
    site, _ = make_site(SITE.format(world=write_world(tmp_path)), tmp_path)
    cam = site.lanes["egate"].devices["face-cam"]
    empty = await cam.grab()  # type: ignore[attr-defined]
    assert empty.payload.shape == (480, 640, 3)  # nobody there: a generated frame
    from gate_sim import WORLD

    lane = site.stash[WORLD].lane("egate")
    assert lane.arrive(2) is not None and lane.current is not None and lane.current.id == "a-2"
    shot = await cam.grab()  # type: ignore[attr-defined]
    assert shot.payload.shape == (8, 8, 3) and int(shot.payload[0, 0, 0]) == 200
    assert lane.arrive(3) is not None and lane.current.id == "a-1"  # the line starts again from its front


async def test_decisions_are_judged_against_the_truth_and_each_disagreement_is_listed(tmp_path: Path) -> None:
    site, rec = make_site(SITE.format(world=write_world(tmp_path)), tmp_path)
    await site.run(crossings=4, duration=20)
    summary = site.summary()
    truth = summary["truth"]
    assert truth["of"] == len(rec.decisions) >= 4
    assert truth["agree"] == truth["table"]["valid"]["pass"] == truth["of"] - len(truth["disagreements"])
    assert truth["disagreements"] and {d["who"] for d in truth["disagreements"]} == {"a-2"}
    assert truth["disagreements"][0]["expected"] == "deny" and truth["disagreements"][0]["decided"] == "pass"
    assert summary["flows"]["passenger"]["decisions"]["pass"] == len(rec.decisions)


def test_a_missing_or_malformed_world_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorldError, match=r"python -m tools\.demo"):
        load_world(tmp_path / "nothing.json")
    (tmp_path / "bad.json").write_text('{"schema": "other"}')
    with pytest.raises(WorldError, match=r"not a gate_sim\.world/1 index"):
        load_world(tmp_path / "bad.json")
    with pytest.raises(ProfileError, match=r"plugins\.gate_sim\.world"):
        make_site(SITE.format(world=tmp_path / "bad.json"), tmp_path)


def test_a_lane_degraded_by_the_fault_plan_is_judged_against_refer_while_the_fault_lasts_and_shortly_after(
) -> None:
    from gate_sim.truth import RECOVERY_S, expected
    from gate_sim.world import Arrival, LaneWorld
    from gatecore.api import Decision, Outcome, Stamp

    arrival = Arrival("a-1", ("pass",), "valid")
    lane = LaneWorld("egate")
    lane.fault("barrier", True, 10.0)
    lane.fault("barrier", False, 12.0)

    def decision(*reasons: str) -> Decision:
        return Decision(Stamp("test/world", "egate"), "t", Outcome.REFER, reasons, (), {}, (), 1.0)

    degraded = decision("lane fault: barrier: offline")
    assert expected(arrival, degraded, lane, 11.0) == (("refer",), "valid, lane degraded by the scheduled fault")
    assert expected(arrival, degraded, lane, 12.0 + RECOVERY_S / 2)[0] == ("refer",)  # recovering
    assert expected(arrival, degraded, lane, 12.0 + RECOVERY_S + 0.1) == (("pass",), "valid")  # long healed
    assert expected(arrival, degraded, lane, 9.0) == (("pass",), "valid")  # before the plan's fault
    assert expected(arrival, decision("lane fault: lights: offline"), lane, 11.0) == (("pass",), "valid")
    assert expected(arrival, decision("pass: refer"), lane, 11.0) == (("pass",), "valid")  # not degraded


async def test_decisions_made_degraded_by_a_scheduled_fault_count_as_agreeing_when_they_refer(tmp_path: Path) -> None:
    """The plan drops the barrier 1 s in, while the first arrival's pass takes 1.5 s to check (arrivals come
    every 50 ms on average, seeded): the transaction under way refers degraded."""
    faults = '[[plugins.gate_sim.faults]]\nlane = "egate"\nrole = "barrier"\nmode = "drop"\nat_s = 1.0\nfor_s = 1.0\n'
    profile = (SITE.format(world=write_world(tmp_path)).replace("[[lanes]]", faults + "[[lanes]]", 1)
               .replace("deadline_ms = 1000", "deadline_ms = 4000")
               .replace("latency_ms = [0, 0]", "latency_ms = [1500, 1500]"))
    site, rec = make_site(profile, tmp_path)
    await site.run(crossings=3, duration=8)
    truth = site.summary()["truth"]
    degraded = [d for d in rec.decisions if any(r.startswith("lane fault: barrier") for r in d.reasons)]
    assert degraded and all(d.outcome.value == "refer" for d in degraded)
    rows = {why: n for why, n in truth["table"].items() if why.endswith("lane degraded by the scheduled fault")}
    assert sum(sum(n.values()) for n in rows.values()) == len(degraded)
    assert all(set(n) == {"refer"} for n in rows.values())
    assert not [d for d in truth["disagreements"] if d["truth"].endswith("scheduled fault")]
