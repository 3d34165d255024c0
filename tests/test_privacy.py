"""The privacy allow-list (gatecore.privacy, gatecore.logs): only what is declared safe leaves the controller."""

from __future__ import annotations

import io
import json
import os
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from gatecore import logs, privacy
from gatecore.api import (
    FLAG,
    NUMBER,
    REF,
    Codes,
    Decision,
    Evidence,
    EvidenceConfig,
    Fault,
    Group,
    LaneState,
    LaneStateChange,
    Outcome,
    Reports,
    Stamp,
    Vote,
    error_text,
    keyed_ref,
    new_id,
)
from gatecore.privacy import DROPPED, DROPS, SafeText
from gatecore.types import recordable_vote

EXAMPLES = int(os.environ.get("GATECORE_PROPERTY_EXAMPLES", "200"))
DECLARED = Reports(["seen", "unsure"], score=NUMBER, seen=FLAG, level=Codes("low", "high"), pass_ref=REF,
                   stage=Group(ms=NUMBER, inner=Group(n=NUMBER)))


def evidence(reason: str = "seen", **summary: Any) -> Evidence:
    return Evidence("leak", "leaky.evidence", Outcome.PASS, 0.9, reason, {"holder": "NGUYEN VAN A"}, summary)


def decision(ev: Evidence, votes: tuple[Vote, ...] = (), reasons: tuple[str, ...] = ()) -> Decision:
    return Decision(Stamp("site", "lane"), new_id(), Outcome.PASS, reasons, votes, {"leak": ev}, (), 1.0,
                    {"leak": DECLARED})


def dropped_by(place: str, before: dict[str, int]) -> int:
    return DROPS.counts().get(place, 0) - before.get(place, 0)


# -- declarations --------------------------------------------------------------------------------------

def test_a_declaration_refuses_reasons_that_are_not_codes() -> None:
    with pytest.raises(ValueError, match="is not a code"):
        Reports(["Signature OK"])
    with pytest.raises(ValueError, match="is not a code"):
        Codes("NGUYEN VAN A")
    with pytest.raises(TypeError, match="collection of texts"):
        Reports("seen")  # one text, not a set of codes


def test_a_declaration_refuses_fields_that_are_not_a_safe_type() -> None:
    with pytest.raises(TypeError, match="is not NUMBER, FLAG, REF"):
        Reports(holder=str)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="is not a field name"):
        Reports(**{"the holder": NUMBER})


def test_an_evidence_kind_declares_nothing_by_default() -> None:
    assert EvidenceConfig.reports is privacy.NOTHING and not privacy.NOTHING.reasons and not privacy.NOTHING.summary


# -- records ----------------------------------------------------------------------------------------------

def test_an_evidence_summary_keeps_the_declared_fields_of_their_declared_type_only() -> None:
    before = DROPS.counts()
    ev = evidence(score=0.93, seen=True, level="high", stage={"ms": 1.5, "inner": {"n": 2, "x": "C1234567"}},
                  holder="NGUYEN VAN A", docno="079201001234", C1234567=1)
    out = ev.to_summary(DECLARED)["summary"]
    assert out == {"score": 0.93, "seen": True, "level": "high", "stage": {"ms": 1.5, "inner": {"n": 2}}}
    assert dropped_by("decision.summary/leaky.evidence", before) == 4  # x, holder, docno, C1234567


@pytest.mark.parametrize(("field", "value"), [
    ("score", "0.9"), ("score", True), ("seen", 1), ("level", "NGUYEN VAN A"), ("stage", 3), ("pass_ref", True),
    ("pass_ref", 1.5),
])
def test_a_declared_field_of_the_wrong_type_is_dropped_and_counted(field: str, value: Any) -> None:
    before = DROPS.counts()
    assert evidence(**{field: value}).to_summary(DECLARED, b"key")["summary"] == {}
    assert dropped_by("decision.summary/leaky.evidence", before) == 1


def test_a_declared_field_without_a_value_is_left_out_and_not_counted() -> None:
    before = DROPS.counts()
    assert evidence(score=None, pass_ref=None).to_summary(DECLARED, b"key")["summary"] == {}
    assert dropped_by("decision.summary/leaky.evidence", before) == 0


def test_a_reference_leaves_as_a_keyed_hash_and_not_at_all_without_a_key() -> None:
    ev = evidence(pass_ref="C1234567")
    assert ev.to_summary(DECLARED, b"salt")["summary"] == {"pass_ref": keyed_ref("C1234567", b"salt")}
    assert keyed_ref("C1234567", b"salt") != keyed_ref("C1234567", b"pepper")
    assert keyed_ref("C1234567", b"salt").startswith("hmac-sha256:") and "C1234567" not in keyed_ref("C1234567", b"s")
    assert ev.to_summary(DECLARED, None)["summary"] == {}


def test_a_reason_leaves_only_as_one_of_the_declared_codes() -> None:
    before = DROPS.counts()
    assert evidence("unsure").to_summary(DECLARED)["reason"] == "unsure"
    assert evidence("Trần Thị B").to_summary(DECLARED)["reason"] == DROPPED
    assert evidence("seen").to_summary()["reason"] == DROPPED  # nothing declared
    assert dropped_by("decision.reason/leaky.evidence", before) == 2


def test_a_decision_record_carries_no_claims_and_only_the_cores_own_reasons() -> None:
    record = decision(evidence(), reasons=(SafeText("leak: pass"), "NGUYEN VAN A")).to_record()
    assert record["reasons"] == ["leak: pass", DROPPED]
    assert "NGUYEN" not in json.dumps(record) and "holder" not in json.dumps(record)


def test_a_vote_keeps_its_reason_only_as_a_code_of_its_source_and_its_source_only_if_the_lane_has_it() -> None:
    declared = {"leak": DECLARED}
    assert recordable_vote(Vote("v", Outcome.PASS, "seen", "leak"), declared) == Vote("v", Outcome.PASS, "seen", "leak")
    assert recordable_vote(Vote("v", Outcome.DENY, "NGUYEN VAN A", "leak"), declared).reason == DROPPED
    assert recordable_vote(Vote("v", Outcome.PASS, "seen", "C1234567"), declared) == \
        Vote("v", Outcome.PASS, DROPPED, None)  # an unknown source, and so no codes for its reason
    record = decision(evidence(), votes=(Vote("v", Outcome.DENY, "Trần Thị B", "leak"),)).to_record()
    assert record["votes"] == [{"voter": "v", "outcome": "deny", "reason": DROPPED, "source": "leak"}]


def test_fault_and_state_records_carry_the_cores_own_text_only() -> None:
    stamp = Stamp("site", "lane")
    fault = Fault(stamp, "plugin_failed", "RuntimeError: NGUYEN VAN A", "lights", None, "leaky").to_record()
    assert (fault["kind"], fault["message"], fault["device"], fault["plugin"]) == \
        ("plugin_failed", DROPPED, "lights", "leaky")
    assert Fault(stamp, "C1234567", SafeText("lights: offline")).to_record()["kind"] == DROPPED
    assert Fault(stamp, "timeout", SafeText("no crossing within 2s")).to_record()["message"] == "no crossing within 2s"
    change = LaneStateChange(stamp, LaneState.IDLE, LaneState.DEGRADED, "079201001234").to_record()
    assert change["reason"] == DROPPED


def test_an_error_leaves_as_its_type_and_where_it_was_raised_never_its_message() -> None:
    try:
        raise RuntimeError("NGUYEN VAN A holds C1234567")
    except RuntimeError as exc:
        text = error_text(exc)
    assert text.startswith("RuntimeError at tests.test_privacy:") and "NGUYEN" not in text
    assert isinstance(text, SafeText) and error_text(KeyError("C1234567")) == "KeyError"


def test_the_first_drop_at_a_place_is_logged_without_the_value() -> None:
    place = f"decision.summary/first-{new_id()}"
    with structlog.testing.capture_logs() as seen:
        privacy.summary({"holder": "NGUYEN VAN A"}, {}, None, place)
        privacy.summary({"holder": "NGUYEN VAN A"}, {}, None, place)
    assert [(e["event"], e["place"], e["count"]) for e in seen] == [("privacy_dropped", place, 1)]
    assert "NGUYEN" not in json.dumps(seen) and DROPS.counts()[place] == 2


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.one_of(st.text(max_size=20), st.integers(), st.floats(),
                                                       st.booleans(), st.none()), max_size=8))
def test_no_undeclared_key_or_text_ever_leaves_an_evidence_summary(summary: dict[str, Any]) -> None:
    out = privacy.summary(summary, DECLARED.summary, b"key", "decision.summary/property")
    assert set(out) <= set(DECLARED.summary)
    for name, value in out.items():
        assert name != "level" or value in ("low", "high")
        assert name != "pass_ref" or value == keyed_ref(str(summary[name]), b"key")
        assert not isinstance(value, str) or name in ("level", "pass_ref")


# -- logs ------------------------------------------------------------------------------------------------

def log_line(**kw: Any) -> dict[str, Any]:
    out = io.StringIO()
    logs.configure("debug", "json", out)
    structlog.get_logger("t").info(kw.pop("event", "test_event"), **kw)
    line: dict[str, Any] = json.loads(out.getvalue())
    return line


def test_a_log_line_keeps_known_keys_with_values_of_their_kind() -> None:
    line = log_line(lane="bl1-egate-1", txn=new_id(), reasons=[SafeText("face: no evidence in time")], count=3,
                    outcome="refer", error=error_text(ValueError("x")), counts={"ok": 2}, device=None)
    assert DROPPED not in line.values() and line["reasons"] == ["face: no evidence in time"]


@pytest.mark.parametrize("kw", [
    {"holder": "NGUYEN VAN A"},                 # an unknown key
    {"lane": "NGUYEN VAN A"},                   # an id key with free text
    {"reason": "Trần Thị B"},                   # a code key with free text
    {"error": "C1234567"},                      # ... or with a document number
    {"reason": "079201001234"},
    {"count": "079201001234"},                  # a number key with a text
    {"event": "seen NGUYEN VAN A"},             # a message made with an f-string
    {"counts": {"NGUYEN VAN A": 1}},            # a map with a free key
    {"reasons": ["ok", "Trần Thị B"]},          # a list with one free item
    {"lane": SafeText("bl1 egate")},            # the core's text is for code keys only
])
def test_a_log_line_drops_and_counts_what_is_not_known_safe(kw: dict[str, Any]) -> None:
    before = DROPS.counts().get("log", 0)
    line = log_line(**kw)
    key = next(iter(kw))
    assert line[key] == DROPPED and DROPS.counts()["log"] == before + 1
    text = json.dumps(line, ensure_ascii=False)
    assert not [v for v in ("NGUYEN", "Trần", "C1234567", "079201001234") if v in text]


def test_a_log_line_never_renders_a_traceback() -> None:
    out = io.StringIO()
    logs.configure("info", "console", out)
    try:
        raise RuntimeError("NGUYEN VAN A")
    except RuntimeError:
        structlog.get_logger("t").exception("boom")
    assert "boom" in out.getvalue() and "NGUYEN" not in out.getvalue() and "Traceback" not in out.getvalue()
