"""Plugin manager, hook helper, policy, logging and the vendor test kit."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pluggy
import pytest
import structlog

from gatecore import hookimpl, logs
from gatecore.api import Evidence, Outcome, PolicyConfig, Vote
from gatecore.hooks import Hooks
from gatecore.plugins import PluginError, describe, make_manager, register
from gatecore.policy import combine
from gatecore.testing import make_site, running, wait_for

from .conftest import SITE, lane_toml
from .scripted import Answer

# -- plugin manager --------------------------------------------------------------------------------


def test_entry_point_plugins_are_found_like_builtins() -> None:
    names = {info.name: info for info in describe(make_manager())}
    assert names["evidence_votes"].origin == "builtin"
    assert names["gate_sim"].origin == "gatecore" and "gatecore_make_device" in names["gate_sim"].hooks


def test_an_essential_plugin_cannot_be_disabled() -> None:
    with pytest.raises(PluginError, match="essential"):
        make_manager(["evidence_votes"])


def test_a_plugin_can_be_disabled_by_name() -> None:
    assert "gate_sim" not in {i.name for i in describe(make_manager(["gate_sim"]))}


def test_a_misspelt_hook_name_fails_at_registration() -> None:
    class Bad:
        @hookimpl
        def gatecore_vot(self) -> None: ...

    with pytest.raises(pluggy.PluginValidationError):
        register(make_manager(entry_points_enabled=False), Bad(), "bad")


async def test_each_plugin_is_called_on_its_own_so_failures_and_timeouts_cost_no_other() -> None:
    class Ok:
        @hookimpl
        async def gatecore_site_stop(self, site: object) -> str:
            return "ok"

    class Raises:
        @hookimpl
        def gatecore_site_stop(self, site: object) -> None:
            raise RuntimeError("boom")

    class Hangs:
        @hookimpl
        async def gatecore_site_stop(self, site: object) -> None:
            await asyncio.Event().wait()

    pm = make_manager(entry_points_enabled=False)
    for name, plugin in (("ok", Ok()), ("raises", Raises()), ("hangs", Hangs())):
        register(pm, plugin, name)
    results, failures = await Hooks(pm, 0.1).call("gatecore_site_stop", 0.05, site=None)
    assert results == [("ok", "ok")]
    assert {(f.plugin, type(f.error).__name__) for f in failures} == {("raises", "RuntimeError"),
                                                                      ("hangs", "PluginTimeout")}


async def test_a_failing_voter_degrades_its_lane_with_a_fault_naming_it(tmp_path: Path) -> None:
    class BrokenVoter:
        @hookimpl
        def gatecore_vote(self, txn: object, evidence: object) -> None:
            raise RuntimeError("voter bug")

    from . import scripted

    site, rec = make_site(SITE + lane_toml(), tmp_path, {"scripted": scripted, "broken": BrokenVoter()})
    async with running(site):
        site.lanes["l1"].devices["entry"].set(True)  # type: ignore[attr-defined]
        await wait_for(lambda: rec.faults)
    assert not rec.decisions and "open" not in site.lanes["l1"].barrier.commands  # type: ignore[attr-defined]
    assert (rec.faults[0].kind, rec.faults[0].plugin) == ("plugin_failed", "broken")
    assert "broken.gatecore_vote: RuntimeError at tests.test_core_plugins:" in rec.faults[0].message
    assert "voter bug" not in rec.faults[0].message


# -- policy ----------------------------------------------------------------------------------------

POLICY = PolicyConfig(require=("pass", "face"))
EV = {s: Evidence(s, "t", Outcome.PASS) for s in ("pass", "face")}
PASSES = [Vote("v", Outcome.PASS, source=s) for s in ("pass", "face")]


@pytest.mark.parametrize(("votes", "evidence", "outcome"), [
    (PASSES, EV, Outcome.PASS),
    ([*PASSES, Vote("watchlist", Outcome.DENY, "hit")], EV, Outcome.DENY),
    ([*PASSES, Vote("x", Outcome.REFER, "unsure")], EV, Outcome.REFER),
    (PASSES[:1], EV, Outcome.REFER),                       # a required source without a PASS vote
    (PASSES, {"pass": EV["pass"]}, Outcome.REFER),          # missing evidence
    ([], {}, Outcome.REFER),
    ([Vote("v", Outcome.DENY, source="face")], {"pass": EV["pass"]}, Outcome.DENY),  # DENY beats missing
])
def test_policy_combination(votes: list[Vote], evidence: dict[str, Evidence], outcome: Outcome) -> None:
    assert combine(POLICY, ["pass", "face"], evidence, votes).outcome is outcome


def test_policy_lane_fault_refers_even_with_all_passes() -> None:
    verdict = combine(POLICY, ["pass", "face"], EV, PASSES, faults=["barrier"])
    assert verdict.outcome is Outcome.REFER and verdict.reasons == ("lane fault: barrier: offline",)


def test_optional_missing_source_is_ignored_without_refer_on_timeout() -> None:
    policy = PolicyConfig(require=("pass",), refer_on_timeout=False)
    assert combine(policy, ["pass", "face"], {"pass": EV["pass"]}, PASSES[:1]).outcome is Outcome.PASS


# -- logging ---------------------------------------------------------------------------------------


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_logs_are_json_lines_off_a_tty_and_keep_personal_data_out() -> None:
    out = io.StringIO()
    logs.configure("info", "auto", out)
    structlog.get_logger("t").info("scan", lane="l1", name="NGUYEN VAN A", document_number="C1234567", count=9)
    line = json.loads(out.getvalue())
    assert line["name"] == line["document_number"] == "[dropped]" and line["count"] == 9 and line["lane"] == "l1"
    assert "NGUYEN" not in out.getvalue() and "C1234567" not in out.getvalue()


def test_logs_are_readable_console_lines_on_a_tty() -> None:
    out = Tty()
    logs.configure("info", "auto", out)
    structlog.get_logger("t").info("decision", lane="l1", embedding=[0.1, 0.2])
    text = out.getvalue()
    assert "decision" in text and "lane" in text and "[dropped]" in text and not text.startswith("{")


def test_debug_lines_are_filtered_at_info() -> None:
    out = io.StringIO()
    logs.configure("info", "json", out)
    structlog.get_logger("t").debug("noise")
    assert out.getvalue() == ""


def test_answer_defaults_are_a_pass() -> None:
    assert Answer().outcome is Outcome.PASS
