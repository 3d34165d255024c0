"""gate_plate in a running site: a cargo lane decides from its plate (and container) cameras and the lists,
bad frames are dropped without costing the lane, and nothing of a plate leaves but keyed references.

The reader here is scripted (tests/plate_kit.py): which plate each frame shows is chosen per test, so the
decisions' logic is seen with the cameras, the lane and the policy all real."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import gate_plate
from gatecore.api import Decision, Outcome, keyed_ref
from gatecore.testing import make_site, running, wait_for

from .plate_kit import FakeRead, ScriptedReader, UseReader, arrive, profile, write_frames, write_lists

MANIFEST_PLATE = FakeRead("51G12345")


def site_with(tmp_path: Path, script: dict[int, list[FakeRead]], front: list[int], rear: list[int],
              corrupt: tuple[int, ...] = (), fail: frozenset[int] = frozenset(), side: list[int] | None = None,
              **kw: Any) -> tuple[Any, Any, ScriptedReader]:
    write_lists(tmp_path)
    write_frames(tmp_path / "front", front, corrupt)
    write_frames(tmp_path / "rear", rear)
    if side is not None:
        write_frames(tmp_path / "side", side)
    reader = ScriptedReader(script, fail)
    site, rec = make_site(profile(tmp_path, container=side is not None, **kw), tmp_path,
                          plugins={"use_reader": UseReader(reader)})
    return site, rec, reader


def evidence(decision: Decision, source: str = "plate") -> Any:
    return decision.evidence[source]


async def test_a_plate_in_the_manifest_read_front_and_rear_passes_the_lane(tmp_path: Path) -> None:
    site, rec, _ = site_with(tmp_path, {1: [MANIFEST_PLATE]}, front=[1], rear=[1])
    async with running(site):
        decision = await arrive(site, rec)
    ev = evidence(decision)
    assert decision.outcome is Outcome.PASS and ev.reason == "manifest_match"
    assert ev.kind == "plate.vehicle" and ev.confidence > 0.99
    assert ev.summary["views"] == 2 and ev.summary["manifest_ref"] == "M-0001" and ev.claims["text"] == "51G12345"
    assert [(v.voter, v.outcome, v.source) for v in decision.votes] == [("gate_plate", Outcome.PASS, "plate")]


async def test_a_plate_not_in_the_manifest_is_referred_to_an_officer(tmp_path: Path) -> None:
    site, rec, _ = site_with(tmp_path, {1: [FakeRead("29C67890")]}, front=[1], rear=[1])
    async with running(site):
        decision = await arrive(site, rec)
    assert decision.outcome is Outcome.REFER and evidence(decision).reason == "no_manifest_match"


async def test_a_plate_on_the_deny_watchlist_is_denied(tmp_path: Path) -> None:
    site, rec, _ = site_with(tmp_path, {1: [FakeRead("30A99999")]}, front=[1], rear=[1])
    async with running(site):
        decision = await arrive(site, rec)
    assert decision.outcome is Outcome.DENY and evidence(decision).reason == "watchlist_deny"


async def test_front_and_rear_disagreeing_refer_where_either_alone_would_pass(tmp_path: Path) -> None:
    site, rec, _ = site_with(tmp_path, {1: [MANIFEST_PLATE], 2: [FakeRead("51G12346")]}, front=[1], rear=[2])
    async with running(site):
        decision = await arrive(site, rec)
    ev = evidence(decision)
    assert decision.outcome is Outcome.REFER and ev.reason == "low_confidence" and ev.summary["candidates"] == 2


async def test_corrupt_and_empty_frames_are_counted_logged_and_dropped_and_the_lane_decides(tmp_path: Path) -> None:
    """Frames 0 and 1 of the front camera are an empty file and a truncated PNG (the camera cannot decode
    them), frame 2 makes the reader raise; the frames after them and the rear camera decide the crossing."""
    script = {1: [MANIFEST_PLATE]}
    site, rec, reader = site_with(tmp_path, script, front=[0, 0, 9, 1], rear=[1, 1], corrupt=(0, 1),
                                  fail=frozenset({9}))
    with capture_logs() as logs:
        async with running(site):
            decision = await arrive(site, rec)
    ev = evidence(decision)
    assert decision.outcome is Outcome.PASS and ev.summary["bad_frames"] == 3 and not rec.faults
    bad = [e for e in logs if e["event"] == "plate_bad_frame"]
    assert [(e["role"], e["why"]) for e in bad] == [("plate-front", "no_frame")] * 2 + [
        ("plate-front", "unreadable_frame")]
    assert all("truncated" not in str(e) and "failed on this frame" not in str(e) for e in bad)
    assert 9 in reader.seen


async def test_a_window_that_ends_while_a_frame_is_being_read_costs_the_lane_nothing(tmp_path: Path) -> None:
    """Reads slower than the capture window: the window ends with a read in the executor, the source
    concludes from what it has (nothing: refer), and the lane goes on to the next crossing. (A source that
    entered asyncio.timeout before its first wait would cancel the lane's own task here.)"""
    site, rec, reader = site_with(tmp_path, {1: [MANIFEST_PLATE]}, front=[1], rear=[1], window=50)
    reader.seconds = 0.2
    async with running(site):
        first = await arrive(site, rec)
        second = await arrive(site, rec)
    assert [evidence(d).reason for d in (first, second)] == ["no_read", "no_read"] and not rec.faults


async def test_a_source_stops_reading_once_enough_confident_reads_agree(tmp_path: Path) -> None:
    site, rec, reader = site_with(tmp_path, {1: [MANIFEST_PLATE]}, front=[1] * 8, rear=[1] * 8, frames=8,
                                  window=1500)
    async with running(site):
        decision = await arrive(site, rec)
    assert evidence(decision).summary["frames"] < 16 and len(reader.seen) < 16  # stop_agree = 3


async def test_containers_are_checked_against_the_manifest_line_of_the_plate(tmp_path: Path) -> None:
    script = {1: [MANIFEST_PLATE], 5: [FakeRead("MSKU1234565", "container", "", "horizontal")],
              6: [FakeRead("CSQU3054383", "container", "", "vertical")]}
    site, rec, _ = site_with(tmp_path, script, front=[1], rear=[1], side=[5, 6], frames=2,
                             require='["plate", "container"]')
    async with running(site):
        decision = await arrive(site, rec)
    ev = evidence(decision, "container")
    assert decision.outcome is Outcome.PASS and ev.reason == "manifest_match" and ev.summary["codes"] == 2


async def test_a_container_the_plates_manifest_line_lists_not_being_read_refers(tmp_path: Path) -> None:
    script = {1: [MANIFEST_PLATE], 5: [FakeRead("MSKU1234565", "container", "", "horizontal")]}
    site, rec, _ = site_with(tmp_path, script, front=[1], rear=[1], side=[5], frames=2,
                             require='["plate", "container"]')
    async with running(site):
        decision = await arrive(site, rec)
    ev = evidence(decision, "container")
    assert decision.outcome is Outcome.REFER and ev.reason == "container_missing" and ev.summary["missing"] == 1


async def test_a_changed_manifest_is_read_again_and_a_broken_one_keeps_the_list_in_use(tmp_path: Path) -> None:
    site, rec, _ = site_with(tmp_path, {1: [FakeRead("29C67890")]}, front=[1], rear=[1], reload=0.05)
    manifest = tmp_path / "manifest.csv"
    async with running(site):
        assert (await arrive(site, rec)).outcome is Outcome.REFER
        manifest.write_text(manifest.read_text() + "29C-678.90,,M-0009\n")
        state = site.stash[gate_plate.PLATES].state
        await wait_for(lambda: len(state.manifest) == 7, timeout=5)
        assert (await arrive(site, rec)).outcome is Outcome.PASS
        manifest.write_text("plate\n13A-123.45\n")  # an unissued province: refused, the list in use is kept
        stat = os.stat(manifest)
        await wait_for(lambda: state.counts["list_refused"] >= 1, timeout=5)
        assert state.manifest.version != (stat.st_mtime, stat.st_size)
        assert (await arrive(site, rec)).outcome is Outcome.PASS


async def test_a_plate_leaves_the_controller_only_as_a_keyed_reference(tmp_path: Path) -> None:
    site, rec, _ = site_with(tmp_path, {1: [MANIFEST_PLATE]}, front=[1], rear=[1])
    with capture_logs() as logs:
        async with running(site):
            decision = await arrive(site, rec)
    key = b"doc-salt"
    record = json.dumps(decision.to_record(key), ensure_ascii=False)
    summary = decision.to_record(key)["evidence"]["plate"]["summary"]
    assert summary["plate"] == keyed_ref("51G12345", key) and summary["manifest_ref"] == keyed_ref("M-0001", key)
    assert summary["country"] == "vn" and summary["layout"] == "one_row" and summary["match"] == "exact"
    assert "51G12345" not in record and "M-0001" not in record and "candidates\": [" not in record
    assert "plate" not in json.dumps(decision.to_record(None)["evidence"]["plate"]["summary"])  # no key: left out
    assert "51G12345" not in str(logs) and "M-0001" not in str(logs)


@pytest.mark.parametrize("reason", ["no_manifest_match", "manifest_match"])
async def test_every_reason_and_summary_field_the_plate_source_gives_is_declared(tmp_path: Path, reason: str) -> None:
    from gatecore.api import DROPS

    plate = FakeRead("51G12345" if reason == "manifest_match" else "29C67890")
    site, rec, _ = site_with(tmp_path, {1: [plate]}, front=[1], rear=[1])
    before = DROPS.total()
    async with running(site):
        decision = await arrive(site, rec)
    record = decision.to_record(b"k")
    assert record["evidence"]["plate"]["reason"] == reason and DROPS.total() == before
