"""The IOC plugin inside a running (simulated) site: every report is in the outbox before its hook
returns and reaches the IOC; payloads match the schemas in the repo; bad settings fail `gatecore check`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pluggy
import pytest

import gate_ioc as gate_ioc
from gate_ioc import payloads
from gate_ioc.testing import free_port
from gate_ioc.tool import parse_since
from gatecore import cli
from gatecore.api import (
    NUMBER,
    REF,
    Codes,
    Decision,
    Evidence,
    OfficerEvent,
    Outcome,
    ProfileError,
    Reports,
    Site,
    Stamp,
    Vote,
    hookimpl,
    keyed_ref,
    new_id,
)
from gatecore.plugins import make_manager, register
from gatecore.profile import load_profile

SCHEMAS = Path(gate_ioc.__file__).parent / "schemas"

DEVICES = (("sim.presence", "entry", ""), ("sim.presence", "exit", ""), ("sim.barrier", "barrier", "travel_ms = 20"),
           ("sim.lights", "lights", ""), ("sim.display", "display", ""))
LANE = """
[[lanes]]
id = "{lane}"
flow = "passenger"
trigger = "entry"
exit = "exit"
barrier = "barrier"
lights = "lights"
display = "display"
policy = {{ require = ["pass"], deadline_ms = 500, confirm_timeout_ms = 1000, refer_hold_ms = 0 }}
  [[lanes.evidence]]
  kind = "sim.evidence"
  source = "pass"
  deadline_ms = 300
  latency_ms = [1.0, 5.0]
""" + "".join(f'  [[lanes.devices]]\n  kind = "{k}"\n  role = "{r}"\n  {x}\n' for k, r, x in DEVICES)


def profile_text(tmp: Path, ioc: str) -> str:
    return f"""
[site]
id = "mong-cai/ioc-test"

[run]
shutdown_timeout_s = 5.0

[plugins.gate_sim]
seed = 3
traffic = true
arrivals_per_min = 3000
dwell_ms = 5
officer_ms = 10

[plugins.gate_ioc]
outbox = {{ path = "{tmp / 'box.sqlite'}", synchronous = "normal" }}
local_path = "{tmp / 'ioc.jsonl'}"
heartbeat_s = 0.5
{ioc}
""" + LANE.format(lane="bl1-egate-1") + LANE.format(lane="bl1-egate-2")


@pytest.fixture
def pm() -> pluggy.PluginManager:
    manager = make_manager()
    if manager.get_plugin("gate_ioc") is None:  # not installed by entry point in this environment
        register(manager, gate_ioc, "gate_ioc")
    return manager


def write(tmp: Path, ioc: str = "") -> Path:
    path = tmp / "site.toml"
    path.write_text(profile_text(tmp, ioc))
    return path


def validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{kind}-1.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


async def test_site_reports_reach_the_local_ioc_and_match_the_schemas(pm: pluggy.PluginManager, tmp_path: Path) -> None:
    site = Site(load_profile(write(tmp_path), pm), pm)
    await site.run(crossings=30, duration=60)
    lines = [json.loads(line) for line in (tmp_path / "ioc.jsonl").read_text().splitlines()]
    kinds = {kind: validator(kind) for kind in ("decision", "fault", "state", "heartbeat")}
    seen: dict[str, int] = {}
    for line in lines:
        kind = line["topic"].rsplit("/", 1)[-1]
        assert line["topic"].startswith("gatecore/v1/mong-cai.ioc-test/bl1-egate-")
        kinds[kind].validate(line["record"])
        seen[kind] = seen.get(kind, 0) + 1
    decided = sum(site.summary()["decisions"].values())
    assert seen["decision"] == decided >= 30
    assert seen["state"] >= 4 * decided
    assert seen.get("heartbeat", 0) >= 2
    assert len({line["record"]["id"] for line in lines}) == len(lines)
    numbers: dict[str, list[int]] = {}  # decisions, faults and state changes are numbered per lane; heartbeats not
    for line in lines:
        record = line["record"]
        assert ("seq" in record) == (line["topic"].rsplit("/", 1)[-1] in payloads.SEQUENCED)
        if "seq" in record:
            numbers.setdefault(record["lane"], []).append(record["seq"])
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in numbers.values()) and len(numbers) == 2


class FailingVoter:
    """A voter with a bug on one lane: its faults must reach the IOC naming it."""

    @hookimpl
    def gatecore_vote(self, txn: Any, evidence: Any) -> None:
        if txn.lane_id == "bl1-egate-1":
            raise RuntimeError("voter bug")


async def test_a_plugin_fault_reaches_the_ioc_naming_the_plugin(pm: pluggy.PluginManager, tmp_path: Path) -> None:
    register(pm, FailingVoter(), "failing_voter")
    site = Site(load_profile(write(tmp_path), pm), pm)
    await site.run(crossings=10, duration=60)
    lines = [json.loads(line) for line in (tmp_path / "ioc.jsonl").read_text().splitlines()]
    faults = [line["record"] for line in lines if line["topic"].endswith("/fault")]
    check = validator("fault")
    for fault in faults:
        check.validate(fault)
    assert faults and {(f["lane"], f["kind"], f["plugin"]) for f in faults} == {
        ("bl1-egate-1", "plugin_failed", "failing_voter")}
    assert site.lanes["bl1-egate-2"].crossings >= 5  # the lane beside it kept deciding


def test_lanes_keep_working_with_the_broker_unreachable_and_the_outbox_shows_the_backlog(
    pm: pluggy.PluginManager, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, f'transport = "mqtt"\nbroker = "mqtt://127.0.0.1:{free_port()}"')
    site = Site(load_profile(path, pm), pm)
    asyncio.run(site.run(crossings=20, duration=60))
    decided = sum(site.summary()["decisions"].values())
    assert decided >= 20
    monkeypatch.setattr(cli, "make_manager", lambda *a, **k: pm)  # the plugin is registered, not installed
    assert cli.main(["outbox", str(path)]) == 0
    out = capsys.readouterr().out
    assert "bl1-egate-1" in out and "bl1-egate-2" in out
    pending = int(out.splitlines()[-1].split(",")[0].removeprefix("pending "))
    assert pending >= decided


def test_outbox_replay_marks_delivered_records_and_the_next_run_resends_them(
    pm: pluggy.PluginManager, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path)
    asyncio.run(Site(load_profile(path, pm), pm).run(crossings=5, duration=60))
    first = [json.loads(line)["record"]["id"] for line in (tmp_path / "ioc.jsonl").read_text().splitlines()]
    monkeypatch.setattr(cli, "make_manager", lambda *a, **k: pm)
    assert cli.main(["outbox", str(path), "--replay", "1h"]) == 0
    out = capsys.readouterr().out
    assert f"marked {len(first)} delivered record(s) for re-sending" in out
    asyncio.run(Site(load_profile(path, pm), pm).run(crossings=1, duration=60))
    again = [json.loads(line)["record"]["id"] for line in (tmp_path / "ioc.jsonl").read_text().splitlines()]
    assert again[: len(first)] == first and set(first) <= set(again[len(first):])


def test_gatecore_check_prints_file_line_and_reason_and_exits_2(
    pm: pluggy.PluginManager, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "make_manager", lambda *a, **k: pm)
    path = write(tmp_path, 'transport = "mqtt"\nbroker = "mqtts://ioc.example"\ntls = { ca_file = "/no/ca.pem" }')
    assert cli.main(["check", str(path)]) == 2
    out = capsys.readouterr().out
    assert f"{path}:" in out and "plugins.gate_ioc.tls.ca_file" in out and "CA file /no/ca.pem does not exist" in out


def test_a_decision_payload_carries_the_declared_fields_only_with_references_keyed_hashed() -> None:
    ev = Evidence("pass", "qr", Outcome.PASS, 0.97, "signature_ok",
                  summary={"document_number": "C1234567", "score": 0.97, "frame": b"\xff\xd8", "decode_ms": 3.2,
                           "face_embedding": [0.1, 0.2], "given_name": "NGUYEN", "issuer": "vnm"})
    declared = {"pass": Reports(["signature_ok"], document_number=REF, score=NUMBER, decode_ms=NUMBER,
                                issuer=Codes("vnm"))}
    d = Decision(Stamp("s", "l"), new_id(), Outcome.PASS, (), (Vote("policy", Outcome.PASS),), {"pass": ev},
                 (), 20.0, declared)
    with_salt = payloads.decision(d, b"salt")
    scores = with_salt["evidence"][0]["scores"]
    assert scores == {"score": 0.97, "decode_ms": 3.2, "issuer": "vnm",
                      "document_number": keyed_ref("C1234567", b"salt")}
    assert with_salt["evidence"][0]["reason"] == "signature_ok" and "C1234567" not in json.dumps(with_salt)
    assert scores["document_number"] != payloads.decision(d, b"other")["evidence"][0]["scores"]["document_number"]
    assert "document_number" not in payloads.decision(d, None)["evidence"][0]["scores"]
    validator("decision").validate(with_salt)


def test_schemas_refuse_what_must_not_leave() -> None:
    d = Decision(Stamp("s", "l"), new_id(), Outcome.DENY, (), (), {}, (), 1.0)
    record = payloads.decision(d, None)
    record["evidence"] = [{"source": "face", "kind": "face", "outcome": "deny", "confidence": 0.4, "reason": "",
                           "elapsed_ms": 5.0, "scores": {"portrait_jpeg": "...."}}]
    with pytest.raises(jsonschema.ValidationError):
        validator("decision").validate(record)
    status = payloads.status("s", False, 1.0)
    validator("status").validate(status)
    with pytest.raises(jsonschema.ValidationError):
        validator("status").validate({**status, "extra": 1})


def bad(pm: pluggy.PluginManager, tmp: Path, ioc: str) -> list[str]:
    with pytest.raises(ProfileError) as err:
        load_profile(write(tmp, ioc), pm)
    return [str(issue) for issue in err.value.issues]


@pytest.mark.parametrize(("ioc", "message"), [
    ('transport = "mqtt"\nbroker = "http://ioc.example"', "scheme must be one of"),
    ('transport = "mqtt"\nbroker = "mqtt://ioc.example:99999"', "port is not a number"),
    ('transport = "mqtt"', "needs 'broker'"),
    ('transport = "mqtt"\nbroker = "mqtts://ioc.example"\ntls = { ca_file = "/nonexistent/ca.pem" }',
     "CA file /nonexistent/ca.pem does not exist"),
    ('transport = "mqtt"\nbroker = "mqtt://h"\nusername = "gate"\npassword = "env:GATECORE_TEST_UNSET_SECRET"',
     "GATECORE_TEST_UNSET_SECRET is not set"),
    ('transport = "mqtt"\nbroker = "mqtt://h"\nusername = "gate"\npassword = "file:/nonexistent/secret"',
     "cannot read /nonexistent/secret"),
    ('transport = "mqtt"\nbroker = "mqtt://h"\nusername = "gate"\npassword = "hunter2"', "never written in a profile"),
    ('ack = { timeout_s = 5 }', "'ack' needs transport 'mqtt'"),
    ('transport = "mqtt"\nbroker = "mqtt://h"\nack = { timeout_s = 0 }', "ack.timeout_s: expected greater than 0"),
    ('transport = "mqtt"\nbroker = "mqtt://h"\nack = { timeout = 5 }', "unknown key 'timeout'"),
])
def test_bad_settings_are_clear_check_errors(pm: pluggy.PluginManager, tmp_path: Path, ioc: str, message: str) -> None:
    os.environ.pop("GATECORE_TEST_UNSET_SECRET", None)
    issues = bad(pm, tmp_path, ioc)
    assert any(message in issue and "site.toml:" in issue for issue in issues), issues


def test_a_garbage_ca_file_is_refused(pm: pluggy.PluginManager, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    issues = bad(pm, tmp_path, f'transport = "mqtt"\nbroker = "mqtts://h"\ntls = {{ ca_file = "{ca}" }}')
    assert any("is not a PEM certificate bundle" in issue for issue in issues), issues


def test_replay_since_accepts_times_and_ages() -> None:
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_since("2026-11-27T18:00:00Z") == 1795802400.0
    for text in ("yesterday", "2026-11-27T18:00:00"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_since(text)


def test_an_officers_decision_and_manual_mode_reach_the_ioc_naming_the_officer() -> None:
    from gatecore.api import LaneState, LaneStateChange

    d = Decision(Stamp("s", "l"), new_id(), Outcome.PASS, ("officer: documents_checked",), (), {}, (), 1.0,
                 officer="officer.7")
    record = payloads.decision(d, None)
    validator("decision").validate(record)
    assert record["officer"] == "officer.7"
    assert "officer" not in payloads.decision(Decision(Stamp("s", "l"), new_id(), Outcome.PASS, (), (), {}, (), 1.0),
                                              None)
    change = LaneStateChange(Stamp("s", "l"), LaneState.REFERRED, LaneState.MANUAL, "officer: take_over", None,
                             "supervisor.2")
    state = payloads.state(change)
    validator("state").validate(state)
    assert state["officer"] == "supervisor.2"
    with pytest.raises(jsonschema.ValidationError):
        validator("decision").validate({**record, "officer": "Nguyen Van A"})  # an account id, never a name


async def test_officer_events_reach_the_ioc_numbered_under_their_lane_or_the_site(
    pm: pluggy.PluginManager, tmp_path: Path,
) -> None:
    """A console's login (the site's) and fault acknowledgement (a lane's) are committed to the outbox,
    numbered like every record of their lane, and match the schema; what is not a code never leaves."""
    site = Site(load_profile(write(tmp_path), pm), pm)
    fault_id = new_id()
    events = [OfficerEvent(Stamp(site.id, ""), "login", "officer.7"),
              OfficerEvent(Stamp(site.id, ""), "login_failed", None),
              OfficerEvent(Stamp(site.id, "bl1-egate-1"), "fault_acknowledged", "officer.7", "seen", fault_id)]
    for event in events:
        assert await site.report_officer_event(event) is None
    await site.run(duration=1.5)
    lines = [json.loads(line) for line in (tmp_path / "ioc.jsonl").read_text().splitlines()]
    officer = [line for line in lines if line["topic"].endswith("/officer")]
    check = validator("officer")
    for line in officer:
        check.validate(line["record"])
    assert [(line["topic"].split("/")[-2], r["kind"], r["officer"], r["ref"], r["seq"])
            for line in officer for r in [line["record"]]] == [
        ("_site", "login", "officer.7", None, 1), ("_site", "login_failed", None, None, 2),
        ("bl1-egate-1", "fault_acknowledged", "officer.7", fault_id, 1)]
    with pytest.raises(jsonschema.ValidationError):
        check.validate({**officer[0]["record"], "officer": "Nguyen Van A"})
