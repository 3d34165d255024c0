"""``gatecore check`` refuses a yard that cannot work, each problem at its file, line and key: an edge to a
node that does not exist, a station on a missing node, a station no vehicle can reach, an action the
standard does not define (or one its version lacks), a parameter of the wrong type, missing or misspelt, a
dispatch rule for a lane the site does not have, and a schema directory without the official schemas."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pluggy
import pytest

from gate_ioc.testing import Broker
from gatecore import cli
from gatecore.profile import ProfileError, load_profile

from .conftest import SITE, lane_toml
from .igv_kit import NODES, broker, section, sims_running

__all__ = ["broker"]  # a fixture


def issues(pm: pluggy.PluginManager, path: Path) -> list[str]:
    with pytest.raises(ProfileError) as err:
        load_profile(path, pm)
    return [str(issue) for issue in err.value.issues]


def test_the_test_yard_is_valid(pm: pluggy.PluginManager, write_profile: Callable[..., Path], tmp_path: Path) -> None:
    load_profile(write_profile(SITE + lane_toml("cargo-in-1") + section(tmp_path, None)), pm)


def test_a_broken_yard_is_refused_at_check_time_with_the_location_of_each_problem(
        pm: pluggy.PluginManager, write_profile: Callable[..., Path], tmp_path: Path) -> None:
    text = (SITE + lane_toml("cargo-in-1") + section(tmp_path, None, vehicles=[("acme", "igv-1", "2.1.0")]))
    text = text.replace('  { id = "x2", start = "exit-1", end = "j2", two_way = true },',
                        '  { id = "x2", start = "exit-1", end = "j2", two_way = true },\n'
                        '  { id = "x9", start = "exit-1", end = "j9" },')
    text = text.replace('  { id = "hp", x = 100.0',
                        '  { id = "island", x = 500.0, y = 0.0 },\n  { id = "hp", x = 100.0')
    text = text.replace('actions = [{ type = "pick", parameters = { stationType = "floor", loadType = "container" } }]',
                        'actions = [{ type = "pik" }, { type = "pick", parameters = { loadType = "container", '
                        'height = "high", stationTyp = "floor" } }, { type = "drop", blocking = "SINGLE" }]')
    text += """
[plugins.gate_igv.yard.stations.ghost]
node = "nowhere"
kind = "parking"
[plugins.gate_igv.yard.stations.far]
node = "island"
kind = "parking"
[[plugins.gate_igv.dispatch]]
lane = "cargo-in-9"
stops = ["exit-1", "handover"]
"""
    found = issues(pm, write_profile(text))
    expected = {
        r"yard\.edges\[8\]\.end: edge 'x9': no node 'j9'$",
        r"yard\.stations\.ghost\.node: no node 'nowhere'",
        r"yard\.stations\.far\.node: station 'far' \(node 'island'\) cannot be reached from station 'exit-1'",
        r"yard\.stations\.exit-1\.actions\[0\]\.type: 'pik' is not a predefined VDA 5050 2\.1\.0 action on a node "
        r"\(did you mean 'pick'\?\)",
        r"yard\.stations\.exit-1\.actions\[1\]\.parameters: pick in VDA 5050 2\.1\.0 needs parameter 'stationType'",
        r"yard\.stations\.exit-1\.actions\[1\]\.parameters\.height: parameter 'height' of pick in VDA 5050 2\.1\.0 "
        r"is a number",
        r"yard\.stations\.exit-1\.actions\[1\]\.parameters\.stationTyp: 'stationTyp' is not a parameter of pick "
        r"\(did you mean 'stationType'\?\)",
        r"yard\.stations\.exit-1\.actions\[2\]\.blocking: blockingType 'SINGLE' is not in VDA 5050 2\.1\.0",
        r"dispatch\[1\]\.lane: no lane 'cargo-in-9' \(did you mean 'cargo-in-1'\?\)",
    }
    for pattern in expected:
        assert any(re.search(r"site\.toml:\d+:\d+: plugins\.gate_igv\." + pattern, line) for line in found), \
            (pattern, found)
    assert len(found) == len(expected), found


def test_an_action_is_checked_against_every_version_the_fleet_speaks(
        pm: pluggy.PluginManager, write_profile: Callable[..., Path], tmp_path: Path) -> None:
    """``waitForTrigger`` takes a text in 2.x and a list in 3.0; ``initializePosition`` is 3.0's name."""
    text = SITE + lane_toml("cargo-in-1") + section(tmp_path, None) + """
[plugins.gate_igv.yard.stations.wait]
node = "park-2"
kind = "parking"
actions = [{ type = "waitForTrigger", parameters = { triggerType = "LOCAL" } }]
"""
    found = issues(pm, write_profile(text))
    assert len(found) == 1 and "parameter 'triggerType' of waitForTrigger in VDA 5050 3.0.0 is an array" in found[0]
    only_3 = SITE + lane_toml("cargo-in-1") + section(tmp_path, None, vehicles=[("acme", "igv-3", "3.0.0")])
    load_profile(write_profile(only_3 + text.split(section(tmp_path, None))[1].replace('"LOCAL"', '["LOCAL"]')), pm)


def test_a_schema_directory_without_the_official_schemas_is_refused(
        pm: pluggy.PluginManager, write_profile: Callable[..., Path], tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    (empty / "2.0.0").mkdir(parents=True)
    (empty / "2.0.0" / "state.schema").write_text("{not json")
    text = SITE + lane_toml("cargo-in-1") + section(tmp_path, None)
    text = text.replace(f'schemas = "{_schemas_line(text)}"', f'schemas = "{empty}"')
    found = issues(pm, write_profile(text))
    assert any("plugins.gate_igv.schemas: VDA 5050 schema" in line and "order.schema cannot be read" in line
               for line in found), found
    assert any("state.schema is not a JSON schema" in line for line in found), found


def _schemas_line(text: str) -> str:
    return text.split('schemas = "', 1)[1].split('"', 1)[0]


def test_gatecore_igv_graph_prints_the_yard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "site.toml"
    profile.write_text(SITE.replace('[plugins.gate_sim]\ntraffic = false', '') + section(tmp_path, None)
                       .replace('lane = "cargo-in-1"', 'lane = "l1"') + _sim_lane())
    assert cli.main(["igv", "graph", str(profile)]) == 0
    graph = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (graph["interface_name"], graph["map_id"]) == ("uagv", "yard")
    assert {"id": "hp", "x": 100.0, "y": 10.0} in graph["nodes"]
    assert graph["stations"] == {"park": "park-1", "exit-1": "exit-1", "handover": "hp"}
    assert {n["id"] for n in graph["nodes"]} == set(NODES)


def _sim_lane() -> str:
    return lane_toml("l1").replace('kind = "scripted"', 'kind = "sim.evidence"')


async def test_gatecore_igv_trips_drives_the_vehicles_given_on_a_broker(tmp_path: Path, broker: Broker) -> None:
    """The command line's fleet control drives vehicles it did not start (here: two simulators of this
    test, one 2.0 and one 3.0) over a real broker, and says what came of the trips on its last line."""
    profile = tmp_path / "site.toml"
    profile.write_text(SITE.replace('[plugins.gate_sim]\ntraffic = false', '') + _sim_lane()
                       + section(tmp_path, None, vehicles=()).replace('lane = "cargo-in-1"', 'lane = "l1"'))
    two = [("acme", "igv-1", "2.0.0"), ("acme", "igv-3", "3.0.0")]
    async with sims_running(broker.port, two):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gatecore.cli", "igv", "trips", str(profile), "--count", "6",
            "--broker", f"mqtt://127.0.0.1:{broker.port}", "--vehicle", "acme/igv-1", "--vehicle", "acme/igv-3",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        out, _ = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0
    assert json.loads(out.decode().strip().splitlines()[-1]) == {"trips": 6, "completed": 6, "failed": 0,
                                                                 "invalid_messages": 0}
