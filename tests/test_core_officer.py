"""Officers resolve referred crossings and take lanes to manual mode through the core's API: every action
is on the record (decision or state change naming the officer) and a PASS opens only the barrier of the
crossing it resolves, through the lane's one open path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from gatecore import testing
from gatecore.api import BarrierPosition, LaneState, OfficerEvent, Outcome, Site, Stamp, new_id

from . import scripted
from .conftest import SITE, lane_toml, running, wait_for
from .scripted import REPORTS, SCRIPT, Answer, Reports

OFFICER_LANE = lane_toml().replace("refer_hold_ms = 0", "refer_hold_ms = 0\n  officer_timeout_ms = 5000")


def reports(site: Site) -> Reports:
    return site.stash.setdefault(REPORTS, Reports())


def refer_next(site: Site, n: int = 1) -> None:
    site.stash.setdefault(SCRIPT, {}).setdefault("a", []).extend(Answer(Outcome.REFER) for _ in range(n))


async def referred(site: Site, lane_id: str = "l1") -> str:
    """A vehicle arrives and is referred; returns the transaction waiting for an officer."""
    lane = site.lanes[lane_id]
    lane.devices["entry"].set(True)  # type: ignore[attr-defined]
    await wait_for(lambda: lane.state is LaneState.REFERRED)
    assert lane.referral is not None and lane.referral.outcome is Outcome.REFER
    return lane.referral.txn_id


def opens(site: Site, lane_id: str = "l1") -> int:
    return [c for _, c in site.lanes[lane_id].barrier.commands].count("open")  # type: ignore[attr-defined]


async def test_an_officer_pass_opens_the_barrier_for_that_crossing_and_is_recorded_first(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(lanes=OFFICER_LANE)
    refer_next(site)
    lane = site.lanes["l1"]
    async with running(site):
        txn = await referred(site)
        assert lane.devices["display"].text == "refer to officer"  # type: ignore[attr-defined]
        assert opens(site) == 0
        assert site.resolve("l1", txn, Outcome.PASS, "officer.7", "documents_checked") is None
        await wait_for(lambda: lane.barrier.position is BarrierPosition.OPEN)
        lane.devices["entry"].set(False)  # type: ignore[attr-defined]
        lane.devices["exit"].set(True)  # type: ignore[attr-defined]
        lane.devices["exit"].set(False)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.crossings == 1 and lane.state is LaneState.IDLE)
    first, second = reports(site).decisions
    assert (first.outcome, first.officer) == (Outcome.REFER, None)
    assert (second.txn_id, second.outcome, second.officer) == (txn, Outcome.PASS, "officer.7")
    assert second.reasons == ("officer: documents_checked",)
    assert second.evidence == first.evidence  # the officer saw what the lane had
    record = second.to_record()
    assert (record["officer"], record["outcome"], record["txn"]) == ("officer.7", "pass", txn)
    assert opens(site) == 1
    assert lane.decisions == {"pass": 1, "deny": 0, "refer": 1}


async def test_an_officer_deny_keeps_the_barrier_closed(make_site: Callable[..., Site]) -> None:
    site = make_site(lanes=OFFICER_LANE)
    refer_next(site)
    lane = site.lanes["l1"]
    async with running(site):
        txn = await referred(site)
        assert site.resolve("l1", txn, Outcome.DENY, "officer.7", "sent_back") is None
        await wait_for(lambda: len(reports(site).decisions) == 2)
        await wait_for(lambda: lane.devices["display"].text == "denied")  # type: ignore[attr-defined]
        lane.devices["entry"].set(False)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.IDLE)
    assert reports(site).decisions[1].outcome is Outcome.DENY
    assert opens(site) == 0


async def test_a_duplicate_a_late_and_another_lanes_resolution_are_refused_and_open_nothing(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(lanes=OFFICER_LANE + OFFICER_LANE.replace('id = "l1"', 'id = "l2"'))
    refer_next(site, 2)
    lane = site.lanes["l1"]
    async with running(site):
        txn = await referred(site)
        assert site.resolve("l2", txn, Outcome.PASS, "officer.7", "ok") == \
            "no referral of this transaction is waiting on this lane"  # the other lane waits for nothing
        assert site.resolve("l1", txn, Outcome.DENY, "officer.7", "sent_back") is None
        assert site.resolve("l1", txn, Outcome.PASS, "officer.8", "ok") == "this referral is resolved already"
        await wait_for(lambda: len(reports(site).decisions) == 2)
        lane.devices["entry"].set(False)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.IDLE)
        assert site.resolve("l1", txn, Outcome.PASS, "officer.7", "ok") == \
            "no referral of this transaction is waiting on this lane"  # it has ended
        await asyncio.sleep(0.05)
    assert opens(site) == 0 and opens(site, "l2") == 0
    assert [d.outcome for d in reports(site).decisions] == [Outcome.REFER, Outcome.DENY]


@pytest.mark.parametrize(
    ("outcome", "officer", "reason", "why"),
    [
        (Outcome.REFER, "officer.7", "ok", "pass or deny"),
        ("pass", "officer.7", "ok", "pass or deny"),
        (Outcome.PASS, "Nguyen Van A", "ok", "officer must be an account id"),
        (Outcome.PASS, "officer.7", "he showed me his passport", "reason must be a code"),
        (Outcome.PASS, "", "ok", "officer must be an account id"),
    ],
)
async def test_a_resolution_with_bad_arguments_is_refused(
    make_site: Callable[..., Site], outcome: object, officer: str, reason: str, why: str,
) -> None:
    site = make_site(lanes=OFFICER_LANE)
    refer_next(site)
    async with running(site):
        txn = await referred(site)
        answer = site.resolve("l1", txn, outcome, officer, reason)  # type: ignore[arg-type]
        assert answer is not None and why in answer
        assert site.lanes["l1"].state is LaneState.REFERRED
    assert opens(site) == 0


async def test_without_an_answer_in_time_the_refer_stands(make_site: Callable[..., Site]) -> None:
    site = make_site(lanes=OFFICER_LANE.replace("officer_timeout_ms = 5000", "officer_timeout_ms = 100"))
    refer_next(site)
    lane = site.lanes["l1"]
    async with running(site):
        txn = await referred(site)
        await wait_for(lambda: lane.state is LaneState.CLEARING)
        assert site.resolve("l1", txn, Outcome.PASS, "officer.7", "ok") is not None
        lane.devices["entry"].set(False)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.IDLE)
    assert [d.outcome for d in reports(site).decisions] == [Outcome.REFER]
    assert opens(site) == 0


async def test_the_referral_ends_when_the_traveller_leaves(make_site: Callable[..., Site]) -> None:
    site = make_site(lanes=OFFICER_LANE)
    refer_next(site)
    lane = site.lanes["l1"]
    async with running(site):
        txn = await referred(site)
        lane.devices["entry"].set(False)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.IDLE)
        assert site.resolve("l1", txn, Outcome.PASS, "officer.7", "ok") is not None
    assert opens(site) == 0


async def test_manual_mode_and_back_are_on_the_record_with_the_officer(make_site: Callable[..., Site]) -> None:
    site = make_site()
    lane = site.lanes["l1"]
    async with running(site):
        assert site.set_manual("l1", True, "supervisor.2", "maintenance") is None
        await wait_for(lambda: lane.state is LaneState.MANUAL)
        assert site.set_manual("l1", True, "supervisor.2", "maintenance") == "the lane is in manual mode already"
        assert site.set_manual("l1", False, "officer.7", "maintenance_done") is None
        await wait_for(lambda: lane.state is LaneState.IDLE)
        assert site.set_manual("nope", True, "officer.7", "x") == "no such lane"
    changes = [c for c in reports(site).states if LaneState.MANUAL in (c.old, c.new)]
    assert [(c.new, c.officer, c.reason) for c in changes] == [
        (LaneState.MANUAL, "supervisor.2", "officer: maintenance"),
        (LaneState.IDLE, "officer.7", "officer: maintenance_done"),
    ]
    assert changes[0].to_record()["officer"] == "supervisor.2"


async def test_taking_a_referred_lane_to_manual_abandons_the_referral(make_site: Callable[..., Site]) -> None:
    site = make_site(lanes=OFFICER_LANE)
    refer_next(site)
    lane = site.lanes["l1"]
    async with running(site):
        txn = await referred(site)
        assert site.set_manual("l1", True, "officer.7", "take_over") is None
        await wait_for(lambda: lane.state is LaneState.MANUAL)
        assert site.resolve("l1", txn, Outcome.PASS, "officer.7", "ok") is not None
    assert opens(site) == 0


async def test_a_resolution_counts_for_its_crossing_only(make_site: Callable[..., Site]) -> None:
    """The next referral waits for an officer of its own: an earlier answer is not carried over."""
    site = make_site(lanes=OFFICER_LANE)
    refer_next(site, 2)
    lane = site.lanes["l1"]
    async with running(site):
        first = await referred(site)
        assert site.resolve("l1", first, Outcome.DENY, "officer.7", "sent_back") is None
        await wait_for(lambda: len(reports(site).decisions) == 2)
        lane.devices["entry"].set(False)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.IDLE)
        second = await referred(site)
        await asyncio.sleep(0.05)
        assert second != first and lane.state is LaneState.REFERRED  # still waiting
        assert len(reports(site).decisions) == 3


async def test_an_officer_event_reaches_every_reporter(tmp_path: Path) -> None:
    """What a console does of its own (a login, a fault acknowledged) goes to every
    ``gatecore_report_officer_event`` implementation, as it was handed in."""
    site, recorder = testing.make_site(SITE + lane_toml(), tmp_path, plugins={"scripted": scripted})
    login = OfficerEvent(Stamp(site.id, ""), "login", "officer.7")
    ack = OfficerEvent(Stamp(site.id, "l1"), "fault_acknowledged", "officer.7", "seen", new_id())
    assert await site.report_officer_event(login) is None
    assert await site.report_officer_event(ack) is None
    assert recorder.officer_events == [login, ack]
    record = ack.to_record()
    assert (record["schema"], record["lane"], record["kind"], record["officer"], record["reason"], record["ref"]) == (
        "gatecore.officer_event/1", "l1", "fault_acknowledged", "officer.7", "seen", ack.ref)


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (dict(kind="password_typed"), "kind must be one of"),
        (dict(kind="login_failed", officer="Nguyen Van A"), "officer must be an account id"),
        (dict(kind="action_refused", officer="officer.7", reason="he was rude"), "reason must be a code"),
        (dict(kind="fault_acknowledged", officer="officer.7", ref="fault 12"), "ref must be a record id"),
    ],
)
async def test_an_officer_event_that_is_not_what_it_must_be_is_refused_and_reaches_nobody(
    tmp_path: Path, event: dict[str, str], why: str,
) -> None:
    site, recorder = testing.make_site(SITE + lane_toml(), tmp_path, plugins={"scripted": scripted})
    bad = OfficerEvent(Stamp(site.id, ""), **event)
    problem = await site.report_officer_event(bad)
    assert problem is not None and why in problem
    assert recorder.officer_events == []
    record = bad.to_record()  # and were it recorded anyway, what is not what it must be would not leave
    left = {key: record[key] for key in ("kind", "officer", "reason", "ref")}
    assert not any(value in left.values() for value in event.values() if value not in ("login_failed",
                   "action_refused", "fault_acknowledged", "officer.7"))
