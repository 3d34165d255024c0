"""Lane state machine: each transition, timeout and fault path, driven through simulated devices."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gatecore.api import BarrierPosition, LaneState, Notifier, Outcome, Site

from .conftest import lane_toml, running, wait_for
from .scripted import REPORTS, SCRIPT, Answer, Reports

NORMAL = ["collecting", "deciding", "actuating", "clearing", "idle"]


def reports(site: Site) -> Reports:
    return site.stash.setdefault(REPORTS, Reports())


def script(site: Site, *answers: Answer, source: str = "a") -> None:
    site.stash.setdefault(SCRIPT, {}).setdefault(source, []).extend(answers)


def states(site: Site) -> list[str]:
    """State changes after start-up (stopped -> idle)."""
    return [c.new.value for c in reports(site).states[1:]]


async def cross(site: Site, lane_id: str = "l1") -> None:
    """A vehicle arrives, waits for the barrier, passes both loops."""
    devices = site.lanes[lane_id].devices
    devices["entry"].set(True)  # type: ignore[attr-defined]
    await wait_for(lambda: devices["barrier"].position is BarrierPosition.OPEN)  # type: ignore[attr-defined]
    devices["exit"].set(True)  # type: ignore[attr-defined]
    devices["entry"].set(False)  # type: ignore[attr-defined]
    devices["exit"].set(False)  # type: ignore[attr-defined]


async def refused_then_crossed(site: Site, by: str = "decision") -> None:
    """A vehicle that is refused (``by`` a decision, or a lane fault) and backs out, then one that crosses."""
    lane = site.lanes["l1"]
    refused = (lambda: bool(reports(site).decisions)) if by == "decision" else (lambda: bool(reports(site).faults))
    async with running(site):
        lane.devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(refused)
        lane.devices["entry"].set(False)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.IDLE)
        before = lane.crossings
        await cross(site)
        await wait_for(lambda: lane.crossings == before + 1 and lane.state is LaneState.IDLE)


async def test_pass_goes_through_every_state_and_back_to_idle(make_site: Callable[..., Site]) -> None:
    site = make_site()
    async with running(site):
        await cross(site)
        await wait_for(lambda: site.lanes["l1"].crossings == 1)
    assert states(site)[:5] == NORMAL
    assert reports(site).decisions[0].outcome is Outcome.PASS
    assert site.lanes["l1"].barrier.position is BarrierPosition.CLOSED


async def test_each_state_change_names_the_transaction(make_site: Callable[..., Site]) -> None:
    site = make_site()
    async with running(site):
        await cross(site)
        await wait_for(lambda: site.lanes["l1"].crossings == 1)
    txn = reports(site).decisions[0].txn_id
    assert [c.txn_id for c in reports(site).states[1:5]] == [txn] * 4


async def test_deny_keeps_the_barrier_closed_and_waits_for_the_lane_to_clear(make_site: Callable[..., Site]) -> None:
    site = make_site()
    script(site, Answer(Outcome.DENY))
    lane = site.lanes["l1"]
    async with running(site):
        lane.devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.CLEARING)
        assert lane.devices["display"].text == "denied"  # type: ignore[attr-defined]
        lane.devices["entry"].set(False)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.IDLE)
    assert "open" not in lane.barrier.commands  # type: ignore[attr-defined]
    assert reports(site).decisions[0].outcome is Outcome.DENY


async def test_late_evidence_refers(make_site: Callable[..., Site]) -> None:
    site = make_site()
    script(site, Answer(Outcome.PASS, delay=1.0))
    async with running(site):
        site.lanes["l1"].devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(lambda: bool(reports(site).decisions))
    decision = reports(site).decisions[0]
    assert decision.outcome is Outcome.REFER
    assert decision.missing == ("a",)
    assert "a: no evidence in time" in decision.reasons


async def test_a_failing_evidence_source_degrades_its_lane_which_recovers_and_decides_again(
    make_site: Callable[..., Site],
) -> None:
    site = make_site()
    script(site, Answer(mode="error"), Answer(Outcome.PASS))
    await refused_then_crossed(site, by="fault")
    fault = reports(site).faults[0]
    assert (fault.kind, fault.plugin) == ("plugin_failed", "scripted")
    # the fault says what failed, in the core's words: the error's type and where, not its message
    assert "evidence source 'a': RuntimeError at tests.scripted:" in fault.message
    assert "scripted failure" not in fault.message
    assert [d.outcome for d in reports(site).decisions] == [Outcome.PASS]
    assert [c for _, c in site.lanes["l1"].barrier.commands].count("open") == 1  # type: ignore[attr-defined]


async def test_a_refusal_holds_the_lane_for_refer_hold_even_after_the_vehicle_left(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(lanes=lane_toml().replace("refer_hold_ms = 0", "refer_hold_ms = 1500"))
    script(site, Answer(Outcome.DENY))
    lane = site.lanes["l1"]
    async with running(site):
        lane.devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.CLEARING)
        lane.devices["entry"].set(False)  # type: ignore[attr-defined]
        await asyncio.sleep(0.1)
        assert lane.state is LaneState.CLEARING  # the hold is not over
        await wait_for(lambda: lane.state is LaneState.IDLE, timeout=5)
    assert states(site)[:5] == NORMAL


class CountingNotifier(Notifier):
    """Counts the notices that wake the lane while it waits."""

    def __init__(self) -> None:
        super().__init__()
        self.wakes = 0

    def notify(self) -> None:
        if self._wake is not None and not self._wake.done():
            self.wakes += 1
        super().notify()


async def test_while_clearing_only_the_event_that_clears_the_lane_wakes_it(make_site: Callable[..., Site]) -> None:
    site = make_site()
    lane = site.lanes["l1"]
    devices = lane.devices
    counter = site.lane("l1")._events = CountingNotifier()
    async with running(site):
        devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.CLEARING and lane.barrier.position is BarrierPosition.OPEN)
        await asyncio.sleep(0.02)
        before = counter.wakes
        devices["exit"].set(True)  # type: ignore[attr-defined]
        devices["entry"].set(False)  # type: ignore[attr-defined]
        await asyncio.sleep(0.02)
        assert counter.wakes == before and lane.state is LaneState.CLEARING  # still someone in the lane
        devices["exit"].set(False)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.crossings == 1)
        assert counter.wakes >= before + 1
        site.set_manual("l1", True, "officer.1", "test")  # an officer's action wakes the lane, whatever it waits for
        await wait_for(lambda: lane.state is LaneState.MANUAL)


SECOND_SOURCE = """
  [[lanes.evidence]]
  kind = "scripted"
  source = "b"
  deadline_ms = 200
"""


async def test_evidence_at_hand_is_taken_without_a_task_and_reaches_sources_that_wait(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(lanes=lane_toml() + SECOND_SOURCE)
    script(site, Answer(Outcome.PASS, mode="now"), Answer(mode="now"), source="a")
    script(site, Answer(needs="a"), source="b")  # collect waits for a's evidence, then agrees with it
    async with running(site):
        await cross(site)
        await wait_for(lambda: site.lanes["l1"].crossings == 1)
    decision = reports(site).decisions[0]
    assert decision.outcome is Outcome.PASS
    assert decision.evidence["a"].reason.startswith("scripted at once")
    assert decision.evidence["b"].outcome is Outcome.PASS
    assert list(decision.evidence) == ["a", "b"]  # in the profile's order, whichever answered first
    assert len(site.stash[SCRIPT]["a"]) == 1  # one crossing took one answer


async def test_sources_that_must_wait_run_concurrently_whichever_needs_the_other(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(lanes=lane_toml().replace("deadline_ms = 200", "deadline_ms = 100") + SECOND_SOURCE)
    script(site, Answer(needs="b"), Answer(mode="hang"), source="a")  # a waits for b, which answers later
    script(site, Answer(Outcome.PASS, delay=0.02), Answer(needs="a"), source="b")  # then: b waits for a hung a
    lane = site.lanes["l1"]
    async with running(site):
        await cross(site)
        await wait_for(lambda: lane.crossings == 1)
        lane.devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(lambda: len(reports(site).decisions) == 2)
    first, second = reports(site).decisions
    assert first.outcome is Outcome.PASS and first.evidence["a"].outcome is Outcome.PASS
    assert second.outcome is Outcome.REFER and second.missing == ("a",)  # a hung until its deadline (100 ms)
    assert second.evidence["b"].reason == "no a"  # b heard of a's failure then, before its own deadline


async def test_a_source_failing_at_once_degrades_its_lane_and_the_next_crossing_is_decided(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(lanes=lane_toml() + SECOND_SOURCE)
    script(site, Answer(mode="now-error"), source="a")
    script(site, Answer(needs="a"), Answer(needs="a"), source="b")
    await refused_then_crossed(site, by="fault")
    assert "RuntimeError at tests.scripted:" in reports(site).faults[0].message
    assert [d.outcome for d in reports(site).decisions] == [Outcome.PASS]


async def test_missing_open_confirmation_degrades_with_barrier_commanded_closed(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(lanes=lane_toml(barrier="watched.barrier", barrier_extra=""))
    lane = site.lanes["l1"]
    async with running(site):
        lane.barrier.mode = "no-feedback"  # type: ignore[attr-defined]
        lane.devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.DEGRADED)
        # the close is commanded right after the state change (concurrently with the fault report)
        await wait_for(lambda: lane.barrier.commands[-1] == "closed")  # type: ignore[attr-defined]
        commands = lane.barrier.commands  # type: ignore[attr-defined]
        assert commands[commands.index("open"):][:2] == ["open", "closed"]
    fault = reports(site).faults[0]
    assert fault.kind == "timeout" and "barrier open confirmation" in fault.message
    assert fault.txn_id == reports(site).decisions[0].txn_id


async def test_lane_clear_timeout_degrades(make_site: Callable[..., Site]) -> None:
    site = make_site()
    lane = site.lanes["l1"]
    async with running(site):
        lane.devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.DEGRADED)  # the vehicle never moves on
    assert reports(site).faults[0].message == "no crossing within 0.6s"


async def test_device_drop_degrades_then_recovers_by_itself(make_site: Callable[..., Site]) -> None:
    site = make_site()
    lane = site.lanes["l1"]
    async with running(site):
        lane.barrier.inject("drop")  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.DEGRADED)
        await wait_for(lambda: lane.devices["display"].text == "refer to officer")  # type: ignore[attr-defined]
        lane.barrier.inject(None)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.IDLE)
        await cross(site)
        await wait_for(lambda: lane.crossings == 1)
    assert reports(site).faults[0].kind == "device_offline"
    assert reports(site).faults[0].device == "barrier"


async def test_device_drop_during_collection_refers_and_never_opens(make_site: Callable[..., Site]) -> None:
    site = make_site()
    script(site, Answer(Outcome.PASS, delay=0.1))
    lane = site.lanes["l1"]
    async with running(site):
        lane.devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.COLLECTING)
        lane.devices["lights"].inject("drop")  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.DEGRADED)
    assert "open" not in lane.barrier.commands  # type: ignore[attr-defined]
    assert reports(site).decisions[0].outcome is Outcome.REFER


async def test_stalled_barrier_command_times_out_into_degraded(make_site: Callable[..., Site]) -> None:
    site = make_site()
    lane = site.lanes["l1"]
    async with running(site):
        lane.barrier.inject("stall")  # type: ignore[attr-defined]
        lane.devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(lambda: bool(reports(site).faults))
        assert lane.state is LaneState.DEGRADED
        assert reports(site).faults[0].kind == "command_timeout"
        lane.barrier.inject(None)  # type: ignore[attr-defined]
        lane.devices["entry"].set(False)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.IDLE)


async def test_manual_mode_abandons_the_transaction_and_commands_nothing(make_site: Callable[..., Site]) -> None:
    site = make_site()
    script(site, Answer(Outcome.PASS, delay=0.15))
    lane = site.lanes["l1"]
    async with running(site):
        lane.devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.state is LaneState.COLLECTING)
        site.set_manual("l1", True, "officer.1", "test")
        await wait_for(lambda: lane.state is LaneState.MANUAL)
        assert "open" not in lane.barrier.commands  # type: ignore[attr-defined]
        lane.devices["entry"].set(False)  # type: ignore[attr-defined]
        site.set_manual("l1", False, "officer.1", "test")
        await wait_for(lambda: lane.state is LaneState.IDLE)


async def test_shutdown_closes_an_open_barrier(make_site: Callable[..., Site]) -> None:
    site = make_site()
    lane = site.lanes["l1"]
    async with running(site):
        lane.devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.barrier.position is BarrierPosition.OPEN)
    assert lane.barrier.commands[-1][1] == "closed"  # type: ignore[attr-defined]
    assert lane.state is LaneState.STOPPED


async def test_scan_trigger_starts_a_transaction(make_site: Callable[..., Site]) -> None:
    lanes = lane_toml().replace('exit = "exit"', 'exit = "exit"\ntrigger = "reader"') + (
        '  [[lanes.devices]]\n  kind = "sim.reader"\n  role = "reader"\n')
    site = make_site(lanes=lanes)
    lane = site.lanes["l1"]
    async with running(site):
        lane.devices["reader"].present("SCAN-1")  # type: ignore[attr-defined]
        await wait_for(lambda: lane.barrier.position is BarrierPosition.OPEN)
        lane.devices["exit"].set(True)  # type: ignore[attr-defined]
        lane.devices["exit"].set(False)  # type: ignore[attr-defined]
        await wait_for(lambda: lane.crossings == 1)


async def test_lanes_run_independently(make_site: Callable[..., Site]) -> None:
    site = make_site(lanes=lane_toml("l1") + lane_toml("l2"))
    async with running(site):
        site.lanes["l2"].barrier.inject("drop")  # type: ignore[attr-defined]
        await wait_for(lambda: site.lanes["l2"].state is LaneState.DEGRADED)
        await cross(site, "l1")
        await wait_for(lambda: site.lanes["l1"].crossings == 1)


async def test_a_device_that_cannot_start_leaves_its_lane_degraded(make_site: Callable[..., Site]) -> None:
    site = make_site(lanes=lane_toml("l1") + lane_toml("l2"))
    lights = site.lanes["l2"].devices["lights"]

    async def broken_start() -> None:
        raise OSError("no such port")

    lights.start = broken_start  # type: ignore[method-assign]
    task = asyncio.create_task(site.run())
    try:
        await wait_for(lambda: site.lanes["l2"].state is LaneState.DEGRADED
                       and site.lanes["l1"].state is LaneState.IDLE and bool(reports(site).faults))
        assert reports(site).faults[0].device == "lights"
    finally:
        site.request_stop()
        await asyncio.wait_for(task, 10)
