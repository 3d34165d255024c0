"""Delivery to the IOC acknowledged end to end: a real Mosquitto, the reference consumer (``gatecore ioc
consume``) in its own process, the controller's outbox waiting for the consumer's acknowledgements."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from pydantic import ValidationError

import gate_ioc
from gate_ioc import payloads
from gate_ioc.config import IocSection
from gate_ioc.consumer import Consumer, read_positions
from gate_ioc.link import MqttSettings
from gate_ioc.mqtt import MqttTransport
from gate_ioc.reporter import make_outbox, make_transport
from gate_ioc.testing import Broker
from gatecore.api import Decision, Outbox, Outcome, Stamp

from .test_ioc_site import LANE as SIM_LANE

SITE = "mong-cai/ack-test"
LANES = ("bl1-egate-1", "bl1-egate-2", "bl2-cargo-in-1", "bl2-cargo-out-1")
DECISIONS = int(os.environ.get("GATECORE_IOC_ACK_DECISIONS", "2000"))
STREAM = "0123456789abcdef"
ACK_SCHEMA = jsonschema.Draft202012Validator(
    json.loads((Path(gate_ioc.__file__).parent / "schemas" / "ack-1.json").read_text()))

def ioc_section(tmp: Path, port: int) -> dict[str, Any]:
    return {"transport": "mqtt", "broker": f"mqtt://127.0.0.1:{port}", "keepalive_s": 5,
            "ack": {"timeout_s": 1.0}, "outbox": {"path": str(tmp / "box.sqlite"), "synchronous": "normal"}}


def write_profile(tmp: Path, port: int) -> Path:
    ioc = ioc_section(tmp, port)
    path = tmp / "site.toml"
    path.write_text(f'[site]\nid = "{SITE}"\n\n[plugins.gate_ioc]\ntransport = "mqtt"\n'
                    f'broker = "{ioc["broker"]}"\nkeepalive_s = 5\nack = {{ timeout_s = 1.0 }}\n'
                    + SIM_LANE.format(lane="bl1-egate-1"))
    return path


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto keeping sessions on disk (saved every second, so that the consumer's session survives a
    kill), 20 messages in flight to a subscriber (its default) and at most 50 more queued for it in memory
    (the default is 1000, which a lag longer than this test's reaches): beyond that, and whatever it had
    not saved when killed, it loses messages it has already acknowledged to the controller."""
    where = tmp_path / "mosquitto"
    b = Broker(where, durable_sessions=False, extra=f"persistence true\npersistence_location {where}/\n"
                                                    "autosave_interval 1\nmax_queued_messages 50")
    b.start()
    yield b
    b.stop()


def start_consumer(profile: Path, out: Path) -> subprocess.Popen[bytes]:
    with (out.parent / "consumer.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "gatecore.cli", "ioc", "consume", str(profile), "--out",
                                 str(out)], stderr=log)


def stored(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line)["record"] for line in out.read_bytes().splitlines(keepends=True) if line.endswith(b"\n")]


def decision(lane: str) -> tuple[str, str, bytes, str, bool]:
    d = Decision(Stamp(SITE, lane), "t", Outcome.PASS, ("all required evidence passed",), (), {}, (), 12.5)
    return lane, "decision", payloads.encode(payloads.decision(d, None)), d.stamp.id, True


async def test_broker_killed_five_times_while_the_consumer_lags_every_record_is_stored_once_in_order(
    broker: Broker, tmp_path: Path
) -> None:
    """Each kill comes while the consumer is stopped (SIGSTOP) and the broker holds records for it; no
    replay is asked for: the outbox sends again what the consumer has not acknowledged, and the consumer
    stores each numbered record once, in order."""
    profile, out = write_profile(tmp_path, broker.port), tmp_path / "ioc.jsonl"
    consumer = start_consumer(profile, out)
    cfg = IocSection.model_validate(ioc_section(tmp_path, broker.port))
    expected: dict[str, list[str]] = {lane: [] for lane in LANES}

    async def produce(box: Outbox, rounds: int) -> None:
        for _ in range(rounds):
            items = [decision(lane) for lane in LANES]
            for lane, _kind, _payload, rid, _must in items:
                expected[lane].append(rid)
            await box.put_many(items)
            await asyncio.sleep(0.002)

    rounds = DECISIONS // len(LANES) // 8
    try:
        async with make_outbox(cfg) as box:
            transport, keeper = make_transport(cfg, SITE, None, box.stream)
            assert isinstance(transport, MqttTransport)
            tasks = [asyncio.create_task(keeper), asyncio.create_task(box.deliver(transport))]
            await produce(box, 1)
            assert await box.wait_idle(60)  # the consumer is subscribed and acknowledges
            overdue_before = transport.overdue
            for _ in range(5):
                await produce(box, rounds)
                consumer.send_signal(signal.SIGSTOP)  # it lags: what the broker confirms now waits there
                await produce(box, rounds // 2)
                await asyncio.to_thread(broker.kill)
                await asyncio.sleep(0.3)
                await asyncio.to_thread(broker.start)
                consumer.send_signal(signal.SIGCONT)
            await produce(box, rounds)
            assert await box.wait_idle(120), f"{(await box.status()).pending} records never acknowledged"
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=5)
            assert (await box.status()).pending == 0
    finally:
        consumer.send_signal(signal.SIGCONT)
        consumer.terminate()
        consumer.wait(timeout=10)
    records = stored(out)
    for lane in LANES:
        mine = [r for r in records if r["lane"] == lane]
        assert [r["id"] for r in mine] == expected[lane]  # each once, in the order made
        assert [r["seq"] for r in mine] == list(range(1, len(expected[lane]) + 1))
        assert {r["stream"] for r in mine} == {box.stream}
    assert transport.overdue > overdue_before  # the broker lost records it had confirmed: they were sent again
    summary = (tmp_path / "consumer.log").read_text().strip().splitlines()[-1]
    print(f"\n{sum(map(len, expected.values()))} decisions stored once each, in order, across 5 broker kills with "
          f"the consumer stopped; {transport.overdue - overdue_before} records waited in vain for an "
          f"acknowledgement and were sent again; consumer: {summary.split('ioc_consumer_stopped')[-1].strip()}")


async def until(condition: Any, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - polls another process's progress
            await asyncio.sleep(0.05)


def consumer(tmp: Path, out: Path | None = None) -> Consumer:
    return Consumer(MqttSettings("127.0.0.1", site=SITE), out)


def message(lane: str, seq: int | None, stream: str = STREAM, kind: str = "decision") -> tuple[str, bytes]:
    record: dict[str, Any] = {"schema": f"gatecore.ioc.{kind}/1", "id": f"{lane}-{seq}", "lane": lane}
    if seq is not None:
        record |= {"stream": stream, "seq": seq}
    return f"gatecore/v1/mong-cai.ack-test/{lane}/{kind}", json.dumps(record).encode()


def test_the_consumer_stores_a_resent_record_once_and_waits_at_a_gap(tmp_path: Path) -> None:
    c = consumer(tmp_path)
    for seq in (1, 2, 2, 1, 4, 3, 4, 5):
        c.take(*message("l1", seq))
    c.take(*message("l1", None, kind="heartbeat"))
    c.take(*message("l1", 9, stream="fedcba9876543210"))  # a new outbox file: a new numbering
    kept = [json.loads(line)["record"] for line in c.lines]
    assert [(r.get("seq"), r.get("stream", "")[:2]) for r in kept] == \
        [(1, "01"), (2, "01"), (3, "01"), (4, "01"), (5, "01"), (None, ""), (9, "fe")]
    assert (c.duplicates, c.gaps) == (2, 1)
    assert c.positions == {"l1": ("fedcba9876543210", 9)}


def test_the_consumer_takes_the_batched_form_record_by_record(tmp_path: Path) -> None:
    c = consumer(tmp_path)
    records = [json.loads(message("l1", n)[1]) for n in (1, 2, 2, 3)]
    c.take("gatecore/v1/mong-cai.ack-test/l1/batch", json.dumps(
        {"schema": "gatecore.ioc.batch/1", "lane": "l1", "records": records}).encode())
    assert [json.loads(line)["record"]["seq"] for line in c.lines] == [1, 2, 3]


def test_the_consumer_ignores_acks_other_sites_and_garbage(tmp_path: Path) -> None:
    c = consumer(tmp_path)
    c.take("gatecore/v1/mong-cai.ack-test/l1/ack", message("l1", 1)[1])
    c.take("gatecore/v1/elsewhere/l1/decision", message("l1", 1)[1])
    c.take("gatecore/v1/mong-cai.ack-test/l1/decision", b"not json")
    c.take("gatecore/v1/mong-cai.ack-test/l1/decision", b'{"schema": "gatecore.ioc.decision/1"}')
    assert c.lines == [] and c.bad == 2


def test_the_consumer_resumes_from_its_file_and_drops_a_line_cut_short(tmp_path: Path) -> None:
    out = tmp_path / "ioc.jsonl"
    first = consumer(tmp_path, out)
    for seq in (1, 2, 3):
        first.take(*message("l1", seq))
    first._write(b"".join(first.lines))
    with out.open("ab") as f:
        f.write(b'{"topic": "x", "record": {"lane": "l1", "seq": 4')  # a crash in the middle of a line
    assert read_positions(out) == {"l1": (STREAM, 3)}
    assert out.read_bytes().endswith(b"}\n")
    again = consumer(tmp_path, out)
    again.take(*message("l1", 3))
    again.take(*message("l1", 4))
    assert [json.loads(line)["record"]["seq"] for line in again.lines] == [4]


def test_acks_match_their_schema_and_bad_acks_are_refused_by_both() -> None:
    good = payloads.ack(SITE, "bl1-egate-1", STREAM, 7, time.time())
    ACK_SCHEMA.validate(good)
    assert payloads.Ack.model_validate_json(payloads.encode(good)).seq == 7
    for bad in ({**good, "seq": "7"}, {**good, "seq": -1}, {**good, "stream": "xyz"}, {**good, "extra": 1},
                {**good, "schema": "gatecore.ioc.ack/2"}, {k: v for k, v in good.items() if k != "lane"}):
        with pytest.raises(jsonschema.ValidationError):
            ACK_SCHEMA.validate(bad)
        with pytest.raises(ValidationError):
            payloads.Ack.model_validate_json(json.dumps(bad))
