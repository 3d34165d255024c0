"""The replay guard: only accepted uses count, per replay group, held while a crossing is decided, kept
across restarts (pass id hashes only) and shared between the controllers of a crossing."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gate_barcode import BARCODE, replay
from gate_barcode.passes import Issuer, id_hash
from gate_barcode.replay import Place, ReplayGuard, Use
from gatecore.api import Outcome, SharedState, Site, SiteView, hookimpl
from gatecore.testing import running, wait_for

from .barcode_kit import (
    SUBJECT,
    barcode_site,
    connected,
    ioc_section,
    issue,
    lane,
    new_issuer,
    scan,
    share_keys,
    write_trust,
)

L1, L2, L3 = (Place("mong-cai/a", name, "all") for name in ("l1", "l2", "l3"))


# --- the guard on its own -------------------------------------------------------------------------

def test_only_an_accepted_use_makes_a_replay_at_another_lane() -> None:
    guard = ReplayGuard(window_s=300)
    assert not guard.claim("t1", "k", L1, now=0)
    guard.release("t1")  # decided, not accepted: nothing recorded
    assert not guard.claim("t2", "k", L2, now=1)
    guard.release("t2")
    assert guard.accept(Use("k", L2, 2), now=2)
    assert not guard.claim("t3", "k", L2, now=10)  # the same lane again
    guard.release("t3")
    assert guard.claim("t4", "k", L1, now=100) and guard.claim("t5", "k", L3, now=100)
    assert not guard.claim("t6", "other", L1, now=100)
    assert not guard.claim("t7", "k", L1, now=303)  # 300 s after the accepted use


def test_a_pass_is_held_by_the_crossing_deciding_it() -> None:
    guard = ReplayGuard(window_s=300)
    assert not guard.claim("t1", "k", L1, now=0)
    assert guard.claim("t2", "k", L2, now=1)  # the same pass at another lane while l1 decides
    guard.release("t1")
    assert not guard.claim("t3", "k", L2, now=2)


def test_a_hold_whose_decision_never_came_ends() -> None:
    guard = ReplayGuard(window_s=300, hold_s=60)
    assert not guard.claim("t1", "k", L1, now=0)
    assert not guard.claim("t2", "k", L2, now=61)
    assert not guard.claim("t3", "k2", L1, now=62) and not guard.claim("t4", "k2", L1, now=63)  # one per lane


def test_lanes_of_another_group_do_not_refuse_the_pass() -> None:
    guard = ReplayGuard(window_s=300)
    guard.accept(Use("k", Place("mong-cai/a", "in-1", "in"), 0), now=0)
    assert not guard.claim("t1", "k", Place("mong-cai/a", "out-1", "out"), now=1)
    assert guard.claim("t2", "k", Place("mong-cai/b", "in-1", "in"), now=1)  # same lane id, other controller


def test_uses_out_of_the_window_or_from_the_future_are_not_taken() -> None:
    guard = ReplayGuard(window_s=300)
    assert not guard.accept(Use("k", L1, 0), now=301)
    assert not guard.accept(Use("k", L1, 1000), now=100)
    assert guard.accept(Use("k", L1, 150), now=100) and not guard.accept(Use("k", L1, 120), now=100)


def test_shared_uses_round_trip_and_bad_payloads_are_refused() -> None:
    uses = [Use(id_hash(b"p" * 16), Place("mong-cai/a", "l1", "in"), 1.5)]
    assert replay.decode(replay.encode(uses), "mong-cai/a") == uses
    for bad in (b"{", b'{"schema": "x", "uses": []}', json.dumps(
            {"schema": replay.SCHEMA, "uses": [{"key": "not-a-hash", "lane": "l1", "group": "g", "t": 1}]}).encode()):
        with pytest.raises(ValueError, match="pass_uses/1"):
            replay.decode(bad, "mong-cai/a")


# --- in a running site ----------------------------------------------------------------------------

CTI = b"\x5a" * 16


@pytest.fixture
def issuer() -> Issuer:
    return new_issuer()


async def test_a_pass_refused_as_replay_stays_refused_when_scanned_again(tmp_path: Path, issuer: Issuer) -> None:
    """Issue 11 item 1. Fails on main: l1, l2, l2, l2 gave PASS, REFER, PASS, PASS (the refused scan at l2
    was recorded as the pass's latest use, so the next one looked like a re-scan at the same lane)."""
    site, rec = barcode_site(tmp_path, write_trust(tmp_path / "trust.json", issuer), [lane("l1"), lane("l2")])
    text = issue(issuer)
    async with running(site):
        decisions = [await scan(site, rec, name, text) for name in ("l1", "l2", "l2", "l2")]
    assert [d.outcome for d in decisions] == [Outcome.PASS, Outcome.REFER, Outcome.REFER, Outcome.REFER]
    assert [d.evidence["pass"].reason for d in decisions] == ["ok", "replay", "replay", "replay"]


async def test_a_pass_for_another_site_is_denied_at_a_mong_cai_lane(tmp_path: Path, issuer: Issuer) -> None:
    """Issue 11 item 5. Fails on main: a pass whose site claim is dongxing-cn gave PASS at a Mong Cai lane."""
    site, rec = barcode_site(tmp_path, write_trust(tmp_path / "trust.json", issuer), [lane("l1")])
    async with running(site):
        elsewhere = await scan(site, rec, "l1", issue(issuer, site="dongxing-cn"))
        here = await scan(site, rec, "l1", issue(issuer, site="mong-cai"))
        anywhere = await scan(site, rec, "l1", issue(issuer))
    assert (elsewhere.outcome, elsewhere.evidence["pass"].reason) == (Outcome.DENY, "wrong_site")
    assert "identity_ref" not in elsewhere.evidence["pass"].claims
    assert here.outcome is Outcome.PASS and anywhere.outcome is Outcome.PASS


async def test_a_pass_whose_crossing_is_referred_for_another_reason_is_not_used(tmp_path: Path, issuer: Issuer) -> None:
    site, rec = barcode_site(tmp_path, write_trust(tmp_path / "trust.json", issuer),
                             [lane("l1", face=True), lane("l2")])
    text = issue(issuer)
    async with running(site):
        at_l1 = await scan(site, rec, "l1", text)
        at_l2 = await scan(site, rec, "l2", text)
    assert (at_l1.outcome, at_l1.evidence["pass"].reason) == (Outcome.REFER, "ok")  # the face referred
    assert at_l2.outcome is Outcome.PASS


async def test_an_officer_pass_of_a_referred_crossing_records_the_use(tmp_path: Path, issuer: Issuer) -> None:
    site, rec = barcode_site(tmp_path, write_trust(tmp_path / "trust.json", issuer),
                             [lane("l1", face=True), lane("l2")])
    text = issue(issuer)
    async with running(site):
        referred = await scan(site, rec, "l1", text)
        officer = dataclasses.replace(referred, outcome=Outcome.PASS, reasons=("officer: pass",))
        await site.report_decision(officer)  # the officer's PASS is a decision of that very transaction
        at_l2 = await scan(site, rec, "l2", text)
    assert (at_l2.outcome, at_l2.evidence["pass"].reason) == (Outcome.REFER, "replay")


async def test_replay_groups_and_the_same_lane(tmp_path: Path, issuer: Issuer) -> None:
    """in-1 and in-2 are one group, out-1 another: only in-2 refuses the pass accepted at in-1."""
    site, rec = barcode_site(tmp_path, write_trust(tmp_path / "trust.json", issuer),
                             [lane("in-1", "in"), lane("in-2", "in"), lane("out-1", "out")])
    text = issue(issuer)
    async with running(site):
        outcomes = [(await scan(site, rec, name, text)).outcome for name in ("in-1", "in-1", "out-1", "in-2")]
    assert outcomes == [Outcome.PASS, Outcome.PASS, Outcome.PASS, Outcome.REFER]


async def test_uses_survive_a_restart_and_only_the_pass_id_hash_is_stored(tmp_path: Path, issuer: Issuer) -> None:
    trust = write_trust(tmp_path / "trust.json", issuer)
    cti = CTI
    text = issue(issuer, pass_id=cti)
    first, rec1 = barcode_site(tmp_path, trust, [lane("l1"), lane("l2")])
    with capture_logs() as logs:
        async with running(first):
            assert (await scan(first, rec1, "l1", text)).outcome is Outcome.PASS
        again, rec2 = barcode_site(tmp_path, trust, [lane("l1"), lane("l2")])  # the controller restarted
        async with running(again):
            after = await scan(again, rec2, "l2", text)
    assert (after.outcome, after.evidence["pass"].reason) == (Outcome.REFER, "replay")
    db = tmp_path / "state" / "pass-uses.sqlite"
    rows = sqlite3.connect(db).execute("SELECT key, site, lane, grp FROM pass_uses").fetchall()
    assert rows == [(id_hash(cti), "mong-cai/bac-luan-1", "l1", "all")]
    stored = b"".join(p.read_bytes() for p in db.parent.glob("pass-uses.sqlite*"))
    assert cti not in stored and cti.hex().encode() not in stored and SUBJECT.encode() not in stored
    logged = json.dumps(logs, default=str)
    assert cti.hex() not in logged and SUBJECT not in logged


@dataclasses.dataclass(eq=False)  # a plugin object must be hashable
class Carrier:
    """A transport plugin between two sites in one process: what one shares, the other applies."""

    peers: dict[str, Site] = dataclasses.field(default_factory=dict)
    carried: list[SharedState] = dataclasses.field(default_factory=list)

    @hookimpl
    async def gatecore_share_state(self, site: SiteView, update: SharedState) -> None:
        self.carried.append(update)
        for peer in self.peers.values():
            if peer is not site:
                await peer.apply_state(update)


async def test_the_first_snapshot_of_a_restarted_controller_carries_its_stored_uses(
        tmp_path: Path, issuer: Issuer) -> None:
    trust = write_trust(tmp_path / "trust.json", issuer)
    text = issue(issuer, pass_id=CTI)
    first, rec = barcode_site(tmp_path / "a", trust, [lane("l1")], site="mong-cai/a")
    async with running(first):
        await scan(first, rec, "l1", text)
    carrier = Carrier()
    a, _ = barcode_site(tmp_path / "a", trust, [lane("l1")], site="mong-cai/a", plugins={"carrier": carrier})
    b, rec_b = barcode_site(tmp_path / "b", trust, [lane("l1")], site="mong-cai/b", plugins={"carrier": carrier})
    carrier.peers.update(a=a, b=b)
    async with running(b), running(a):
        await wait_for(lambda: b.stash[BARCODE].open().guard.uses, timeout=10)
        at_b = await scan(b, rec_b, "l1", text)
    assert (at_b.outcome, at_b.evidence["pass"].reason) == (Outcome.REFER, "replay")
    snapshots = [u for u in carrier.carried if u.site_id == "mong-cai/a" and u.kind == "snapshot"]
    assert snapshots[0].name == "gate_barcode/uses/mong-cai/mong-cai/a"
    assert [u.key for u in replay.decode(snapshots[0].payload, "mong-cai/a")] == [id_hash(CTI)]


async def test_uses_of_another_crossing_are_not_applied(tmp_path: Path, issuer: Issuer) -> None:
    site, rec = barcode_site(tmp_path, write_trust(tmp_path / "trust.json", issuer), [lane("l1")])
    text = issue(issuer, pass_id=CTI)
    payload = replay.encode([Use(id_hash(CTI), Place("dongxing/x", "l1", "all"), time.time())])
    assert not await site.apply_state(SharedState("dongxing/x", "gate_barcode/uses/dongxing/dongxing/x", "delta",
                                                  1, 2, payload))
    assert not await site.apply_state(SharedState("mong-cai/x", "gate_barcode/uses/mong-cai/mong-cai/x", "delta",
                                                  1, 2, b"{not json"))
    async with running(site):
        assert (await scan(site, rec, "l1", text)).outcome is Outcome.PASS
    assert site.stash[BARCODE].open().counts["uses_refused"] == 1


async def test_a_pass_accepted_at_one_controller_is_a_replay_at_another_over_the_broker(
        tmp_path: Path, issuer: Issuer) -> None:
    """Two controllers of Mong Cai, gate_ioc sharing through a real Mosquitto: the use travels as a delta."""
    from gate_ioc.testing import Broker

    broker = Broker(tmp_path / "mosquitto", durable_sessions=False)
    broker.start()
    try:
        trust = write_trust(tmp_path / "trust.json", issuer)
        keys = share_keys(tmp_path, "a", "b")
        sites = {who: barcode_site(tmp_path / who, trust, [lane("l1")], site=f"mong-cai/{who}",
                                   extra=ioc_section(broker.port, tmp_path / who, keys, who)) for who in "ab"}
        (a, rec_a), (b, rec_b) = sites["a"], sites["b"]
        text = issue(issuer, pass_id=CTI)
        async with running(a), running(b):
            await connected(a)
            await connected(b)
            assert (await scan(a, rec_a, "l1", text)).outcome is Outcome.PASS
            await wait_for(lambda: id_hash(CTI) in b.stash[BARCODE].open().guard.uses, timeout=10)
            at_b = await scan(b, rec_b, "l1", text)
    finally:
        broker.stop()
    assert (at_b.outcome, at_b.evidence["pass"].reason) == (Outcome.REFER, "replay")
    assert b.stash[BARCODE].open().guard.uses[id_hash(CTI)].keys() == {Place("mong-cai/a", "l1", "all")}
