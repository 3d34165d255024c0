"""IOC delivery against a real Mosquitto broker and a real subscriber (``mosquitto_sub``): nothing is lost
when the broker is killed, when the controller is killed, or when the broker is away for the whole run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from functools import partial
from pathlib import Path
from typing import Any, cast

import pytest

from gate_ioc import payloads
from gate_ioc.mqtt import MqttSettings, MqttTransport
from gate_ioc.testing import Broker, Received, Subscriber, probe_until_seen
from gatecore.api import Decision, Outcome, Stamp, new_id
from gatecore.outbox import Outbox
from gatecore.privacy import SafeText

SITE = "mong-cai/test"
LANES = ("bl1-egate-1", "bl1-egate-2", "bl2-cargo-in-1", "bl2-cargo-out-1")
TOPIC = "gatecore/v1/#"
DECISIONS = int(os.environ.get("GATECORE_IOC_DECISIONS", "10000"))


def decision_payload(lane: str) -> tuple[str, bytes]:
    d = Decision(Stamp(SITE, lane), new_id(), Outcome.PASS, (SafeText("all required evidence passed"),), (), {}, (),
                 12.5)
    return d.stamp.id, payloads.encode(payloads.decision(d, None))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "mosquitto", in_order=True)  # the order per lane is checked at the subscriber
    b.start()
    yield b
    b.stop()


@pytest.fixture
def subscriber(broker: Broker, tmp_path: Path) -> Iterator[Subscriber]:
    sub = Subscriber(broker.port, TOPIC, tmp_path / "ioc.log")
    sub.start()
    probe_until_seen(sub, "gatecore/v1/probe/probe/probe")
    yield sub
    sub.stop()


@contextlib.asynccontextmanager
async def running(*coros: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.wait(tasks, timeout=5)


def settings(port: int, **kw: Any) -> MqttSettings:
    return MqttSettings("127.0.0.1", port, site=SITE, reconnect_min_s=0.05, reconnect_max_s=0.5, **kw)


async def test_broker_killed_five_times_while_producing_loses_nothing(
    broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    """Production never pauses; each kill hits a link with records in flight.

    Before each kill the subscriber has caught up with what the broker had confirmed a moment earlier:
    a message the broker acknowledged but had not yet passed on (the subscriber still reconnecting or
    stalled) lives only in the broker's memory, and SIGKILL loses it whatever the publisher does - MQTT's
    PUBACK is hop by hop. That limit of a non-durable broker is described in BENCHMARKS.md.
    """
    t_start = time.monotonic()
    await asyncio.sleep(1.5)  # let the broker save the subscriber's session once
    transport = MqttTransport(settings(broker.port))
    expected: dict[str, list[str]] = {lane: [] for lane in LANES}
    requests: asyncio.Queue[int] = asyncio.Queue()
    kill_at: list[tuple[int, int]] = []
    first_kill: list[float] = []

    async def killer(box: Outbox) -> None:
        lines_at_restart = 0
        while len(kill_at) < 5:
            await requests.get()
            await asyncio.wait_for(transport.connected.wait(), 30)
            # the subscriber is back on this broker and has what the broker had confirmed
            assert await asyncio.to_thread(subscriber.wait, partial(_more_than, lines_at_restart), 30)
            assert await asyncio.to_thread(subscriber.wait_unique, box.delivered, 30)
            await asyncio.to_thread(broker.kill)
            first_kill.append(time.time())
            kill_at.append((sum(map(len, expected.values())), box.delivered))
            await asyncio.sleep(0.2)
            await asyncio.to_thread(broker.start)
            lines_at_restart = subscriber.count()

    async with Outbox(tmp_path / "box.sqlite", backoff_max_s=0.5) as box, \
            running(transport.run(), box.deliver(transport)):
        kills = asyncio.create_task(killer(box))
        started = time.monotonic()
        for n in range(0, DECISIONS, len(LANES)):
            items = [(lane, "decision", p, rid, True) for lane in LANES for rid, p in [decision_payload(lane)]]
            for lane, _, _, rid, _ in items:
                expected[lane].append(rid)
            await box.put_many(items)
            await asyncio.sleep(0.003)  # ~1,300 records/s: production spans the five kill cycles
            step, lead = DECISIONS // 6, DECISIONS // 12
            if n % step < len(LANES) and n > 0:
                requests.put_nowait(n)  # kill soon, while production goes on...
            elif (n - lead) % step < len(LANES) and n - lead >= step:
                await until(partial(_kills_caught_up, kill_at, (n - lead) // step))  # ...at the latest by now
        marks = [time.monotonic()]
        await asyncio.wait_for(kills, 60)
        assert await box.wait_idle(60)
        marks.append(time.monotonic())
        complete = await asyncio.to_thread(subscriber.wait_unique, DECISIONS, 20)
        marks.append(time.monotonic())
        first = subscriber.received.ids_by_lane()
        recovered = 0
        if not complete:  # the broker lost what it had acknowledged: the IOC asks for a replay
            recovered = DECISIONS - sum(map(len, first.values()))
            assert await box.replay(since=first_kill[0] - 1.0) > 0
            assert await box.wait_idle(60)
            complete = await asyncio.to_thread(subscriber.wait_unique, DECISIONS, 60)
    assert len(kill_at) == 5 and transport.connects >= 6
    assert all(produced < DECISIONS for produced, _ in kill_at)  # every kill came while records were produced
    got = subscriber.stop()
    assert complete, f"{sum(map(len, got.ids_by_lane().values()))} of {DECISIONS} received; kills {kill_at}"
    assert {lane: sorted(ids) for lane, ids in got.ids_by_lane().items()} == \
        {lane: sorted(ids) for lane, ids in expected.items()}
    for lane, ids in first.items():  # in order per lane (a replay only fills a gap, later)
        assert ids == [i for i in expected[lane] if i in set(ids)]
    assert recovered <= 5 * 256  # the broker can lose at most what it confirmed in the instant before a kill
    duplicates = got.count() - DECISIONS
    print(f"\nbroker killed 5 times at (produced, confirmed) {kill_at}: {DECISIONS} decisions received in order "
          f"per lane, {duplicates} duplicates on the wire, {recovered} lost by the broker and replayed; "
          f"production began at {started - t_start:.1f} "
          f"s; idle after {marks[1] - marks[0]:.1f} s, all received after {marks[2] - marks[1]:.1f} s")


async def until(condition: Callable[[], bool], timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - polls another task's progress
            await asyncio.sleep(0.01)


def _kills_caught_up(kill_at: list[tuple[int, int]], n: int) -> bool:
    return len(kill_at) >= n


async def test_broker_away_for_the_whole_run_records_wait_within_budget_then_drain(
    broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    await asyncio.sleep(1.5)  # the subscriber's session is on the broker's disk
    await asyncio.to_thread(broker.stop)
    transport = MqttTransport(settings(broker.port))
    budget = 600_000
    async with Outbox(tmp_path / "box.sqlite", budget_bytes=budget, backoff_max_s=0.3) as box, \
            running(transport.run(), box.deliver(transport)):
        decisions = []
        for i in range(600):
            rid, p = decision_payload(LANES[i % 2])
            decisions.append(await box.put(LANES[i % 2], "decision", p, id=rid))
            await box.put(LANES[i % 2], "heartbeat", b'{"schema":"gatecore.ioc.heartbeat/1"}' + b" " * 700,
                          must=False)
        await asyncio.sleep(1.0)  # delivery keeps trying and failing meanwhile
        status = await box.status()
        assert status.pending >= 600 and status.dropped > 0 and not status.over_budget
        assert {b.lane for b in status.lanes} == set(LANES[:2])
        assert transport.connects == 0
        await asyncio.to_thread(broker.start)
        assert await asyncio.to_thread(subscriber.wait_unique, 600, 60)
        assert await box.wait_idle(30)
        assert (await box.status()).pending == 0
    got = subscriber.stop()
    assert sorted(i for ids in got.ids_by_lane().values() for i in ids) == sorted(decisions)


CHILD = Path(__file__).with_name("ioc_controller.py")


def child(mode: str, db: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(CHILD), mode, str(db), str(port), SITE], stdout=subprocess.PIPE)


def committed_ids(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT id FROM records WHERE kind = 'decision'")}
    finally:
        conn.close()


def test_controller_killed_mid_stream_delivers_every_committed_record_after_restart(
    broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    db = tmp_path / "box.sqlite"
    proc = child("produce", db, broker.port)
    assert proc.stdout is not None
    printed: list[str] = []
    for line in proc.stdout:
        printed.append(line.decode().strip())
        if len(printed) >= 3000:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    committed = committed_ids(db)
    assert set(printed) <= committed  # put() returned only after the commit
    assert subscriber.wait(_offline, 10)  # the last will: the broker announced the controller offline
    restarted = child("drain", db, broker.port)
    out, _ = restarted.communicate(timeout=60)
    assert out.decode().strip().endswith("drained")
    assert subscriber.wait_unique(len(committed), 30)
    got = subscriber.stop()
    received = {i for ids in got.ids_by_lane().values() for i in ids}
    assert committed <= received
    assert got.messages[-1] != ("", {})


def _more_than(n: int, received: Received) -> bool:
    return received.count() > n


def _offline(received: Received) -> bool:
    return any(t.endswith("/status") and p.get("online") is False for t, p in received.messages)


@pytest.mark.parametrize(("protocol", "form"), [("5", "single"), ("3.1.1", "batch")])
async def test_protocol_versions_and_the_batched_form_arrive_whole(
    broker: Broker, subscriber: Subscriber, tmp_path: Path, protocol: str, form: str
) -> None:
    transport = MqttTransport(settings(broker.port, protocol=protocol, payload=form, batch_max=25))
    sent = []
    async with Outbox(tmp_path / "box.sqlite") as box, running(transport.run(), box.deliver(transport)):
        for _ in range(200):
            rid, p = decision_payload(LANES[0])
            sent.append(await box.put(LANES[0], "decision", p, id=rid))
        assert await box.wait_idle(30)
    kind = "batch" if form == "batch" else "decision"
    assert await asyncio.to_thread(subscriber.wait, partial(_records_in, kind, len(sent)), 30)
    got = subscriber.stop()
    messages = [p for t, p in got.messages if t.endswith("/" + kind)]
    records = [r for m in messages for r in cast(list[dict[str, Any]], m["records"])] if form == "batch" else messages
    assert [r["id"] for r in records] == sent
    if form == "batch":
        assert all(m["schema"] == "gatecore.ioc.batch/1" and len(cast(list[Any], m["records"])) <= 25 for m in messages)
        assert len(messages) < len(sent)


def _records_in(kind: str, n: int, received: Received) -> bool:
    messages = [p for t, p in received.messages if t.endswith("/" + kind)]
    total = sum(len(cast(list[Any], m["records"])) for m in messages) if kind == "batch" else len(messages)
    return total >= n
