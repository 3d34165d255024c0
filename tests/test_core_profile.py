"""Profiles: valid ones load frozen; each malformed one is reported as PATH:LINE:COL: key.path: message."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pluggy
import pydantic
import pytest

from gatecore.cli import load, main
from gatecore.plugins import PluginError
from gatecore.profile import ProfileError, load_profile
from gatecore.site import Site

GOOD = """\
[site]
id = "t/site"

[plugins.gate_sim]
traffic = false

[[lanes]]
id = "l1"
exit = "exit"
policy = { require = ["a"], deadline_ms = 500 }
  [[lanes.devices]]
  kind = "sim.presence"
  role = "entry"
  [[lanes.devices]]
  kind = "sim.presence"
  role = "exit"
  [[lanes.devices]]
  kind = "sim.barrier"
  role = "barrier"
  travel_ms = 100
  [[lanes.evidence]]
  kind = "sim.evidence"
  source = "a"
"""


def bad(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


# (id, profile text, line, key path, message fragment)
MALFORMED = [
    ("typo-in-key", bad("travel_ms = 100", "travel_sm = 100"), 20, "lanes[0].devices[2].travel_sm",
     "unknown key 'travel_sm' (did you mean 'travel_ms'?)"),
    ("typo-in-table", bad('exit = "exit"', 'exit = "exit"\npolcy = 1'), 10, "lanes[0].polcy",
     "did you mean 'policy'?"),
    ("wrong-type-int", bad("travel_ms = 100", 'travel_ms = "fast"'), 20, "lanes[0].devices[2].travel_ms",
     "expected a valid integer, unable to parse string as an integer; found 'fast' (string)"),
    ("wrong-type-bool", bad("traffic = false", "traffic = 3"), 5, "plugins.gate_sim.traffic",
     "expected a valid boolean"),
    ("out-of-range", bad("deadline_ms = 500", "deadline_ms = -5"), 10, "lanes[0].policy.deadline_ms",
     "expected greater than 0; found -5 (integer)"),
    ("duplicate-lane", GOOD + GOOD[GOOD.index("[[lanes]]"):], 25, "lanes[1].id",
     "duplicate lane id 'l1' (first defined at line 8)"),
    ("missing-site-id", bad('id = "t/site"', 'name = "x"'), 1, "site.id", "missing required key 'id'"),
    ("missing-site", GOOD.replace('[site]\nid = "t/site"\n', ""), 1, "site", "missing required key 'site'"),
    ("missing-lane-id", bad('id = "l1"\n', ""), 7, "lanes[0].id", "missing required key 'id'"),
    ("missing-role", bad('role = "barrier"\n', ""), 17, "lanes[0].devices[2].role", "missing required key 'role'"),
    ("unknown-kind", bad('kind = "sim.barrier"', 'kind = "sim.barier"'), 18, "lanes[0].devices[2].kind",
     "unknown device kind 'sim.barier' (did you mean 'sim.barrier'?)"),
    ("unknown-evidence-kind", bad('kind = "sim.evidence"', 'kind = "sim.evidense"'), 22,
     "lanes[0].evidence[0].kind", "unknown evidence kind 'sim.evidense' (did you mean 'sim.evidence'?)"),
    ("toml-syntax", bad("travel_ms = 100", "travel_ms = = 100"), 20, "<profile>", "TOML syntax error"),
    ("toml-unclosed-string", bad('id = "l1"', 'id = "l1'), 8, "<profile>", "TOML syntax error"),
    ("no-lanes", GOOD[: GOOD.index("[[lanes]]")], 1, "lanes", "missing required key 'lanes'"),
    ("unknown-top-level", "sitee = 1\n" + GOOD, 1, "sitee", "unknown key 'sitee' (did you mean 'site'?)"),
    ("unknown-plugin-section", bad("[plugins.gate_sim]", "[plugins.gate_simm]"), 4, "plugins.gate_simm",
     "did you mean 'gate_sim'?"),
    ("missing-barrier-role", bad('role = "barrier"', 'role = "gate"'), 7, "lanes[0].barrier",
     "no device with role 'barrier' in this lane"),
    ("trigger-role-typo", bad('exit = "exit"', 'exit = "exit"\ntrigger = "entyr"'), 10, "lanes[0].trigger",
     "no device with role 'entyr' in this lane (did you mean 'entry'?)"),
    ("require-unknown-source", bad('require = ["a"]', 'require = ["a", "fcae"]'), 10,
     "lanes[0].policy.require[1]", "required source 'fcae' is not an evidence source of this lane"),
    ("duplicate-role", bad('role = "exit"', 'role = "entry"'), 16, "lanes[0].devices[1].role",
     "duplicate role 'entry' in this lane"),
    ("duplicate-source", GOOD + '  [[lanes.evidence]]\n  kind = "sim.evidence"\n  source = "a"\n', 26,
     "lanes[0].evidence[1].source", "duplicate source 'a'"),
    ("bad-identifier", bad('id = "l1"', 'id = "Lane One"'), 8, "lanes[0].id",
     "expected a string that would match pattern"),
    ("bad-model-validator", bad('source = "a"', 'source = "a"\n  latency_ms = [50.0, 10.0]'), 21,
     "lanes[0].evidence[0]", "latency_ms must be [min, max]"),
    ("disable-essential", bad("[plugins.gate_sim]", '[plugins]\ndisable = ["evidence_votes"]\n[plugins.gate_sim]'),
     1, "plugins", "essential"),
    ("disable-unknown", bad("[plugins.gate_sim]", '[plugins]\ndisable = ["gate_zim"]\n[plugins.gate_sim]'), 5,
     "plugins.disable[0]", "no plugin named 'gate_zim' (did you mean 'gate_sim'?)"),
    ("wrong-list-type", bad('require = ["a"]', 'require = "a"'), 10, "lanes[0].policy.require",
     "expected a valid tuple"),
    ("include-missing", 'include = ["nope.toml"]\n' + GOOD, 1, "include[0]", "included file 'nope.toml' not found"),
]


def builds(path: Path) -> bool:
    """Whether ``gatecore run`` would get past building the site: False for a refused profile; any other
    error while the site is built (a SiteError, a plugin's ValueError) fails the test."""
    try:
        profile, pm = load(str(path))
    except (ProfileError, PluginError):
        return False

    async def build() -> None:  # as `gatecore run` does, in the loop (a Modbus client binds to it)
        Site(profile, pm)

    asyncio.run(build())
    return True


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """``gatecore check``; a profile it passes must also build its site."""
    code = main(["check", str(path)])
    lines = capsys.readouterr().out.splitlines()
    assert builds(path) == (code == 0), lines
    return code, lines


def test_good_profile_checks_clean(write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = check(write_profile(GOOD), capsys)
    assert (code, lines) == (0, [])


@pytest.mark.usefixtures("demo_assets")
def test_demo_profile_checks_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert check(Path("profiles/demo.toml"), capsys)[0] == 0


@pytest.mark.parametrize(("text", "line", "path", "fragment"), [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_profile_is_reported_with_its_location(
    text: str, line: int, path: str, fragment: str,
    write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    file = write_profile(text)
    code, lines = check(file, capsys)
    assert code == 2
    wanted = f"{file}:{line}:"
    matching = [ln for ln in lines if ln.startswith(wanted) and f": {path}: " in ln and fragment in ln]
    assert matching, f"no line like {wanted}*: {path}: ...{fragment}... in:\n" + "\n".join(lines)


def test_every_error_line_has_the_documented_form(
    write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    text = bad("travel_ms = 100", 'travel_ms = "x"\n  colour = 1').replace('id = "t/site"', 'id = 5')
    code, lines = check(write_profile(text), capsys)
    assert code == 2 and len(lines) == 3, lines  # several errors at once
    for ln in lines:
        file, line, col, rest = ln.split(":", 3)
        assert file.endswith("site.toml") and int(line) > 0 and int(col) > 0 and rest.startswith(" ")


def test_column_points_at_the_key_in_an_inline_table(
    write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    _, lines = check(write_profile(bad("deadline_ms = 500", "deadline_ms = 0")), capsys)
    assert lines[0].split(":")[1:3] == ["10", "29"]


def test_include_merges_defaults_and_reports_errors_in_the_included_file(
    write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str], pm: pluggy.PluginManager,
) -> None:
    write_profile('[plugins.gate_sim]\nseed = 99\ndwell_ms = 5\n', "base.toml")
    main_text = 'include = ["base.toml"]\n' + GOOD
    profile = load_profile(write_profile(main_text), pm)
    sim = profile.plugin_config("gate_sim")
    assert sim is not None and sim.seed == 99 and sim.traffic is False  # type: ignore[attr-defined]
    write_profile('[plugins.gate_sim]\nseed = "many"\n', "base.toml")
    code, lines = check(write_profile(main_text), capsys)
    assert code == 2
    assert any("base.toml:2:1: plugins.gate_sim.seed:" in ln for ln in lines), lines


def test_lanes_from_an_include_come_first_and_keep_their_lines(
    write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    write_profile(GOOD[GOOD.index("[[lanes]]"):], "lanes.toml")
    text = 'include = ["lanes.toml"]\n' + GOOD.replace('id = "l1"', 'id = "l2"').replace(
        "travel_ms = 100", "travel_ms = -1")
    code, lines = check(write_profile(text), capsys)
    assert code == 2
    assert len(lines) == 1 and "site.toml:21:" in lines[0] and "lanes[1].devices[2].travel_ms" in lines[0], lines


def test_include_cycle_is_an_error(write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    write_profile('include = ["site.toml"]\n', "other.toml")
    code, lines = check(write_profile('include = ["other.toml"]\n' + GOOD), capsys)
    assert code == 2 and any("include cycle" in ln for ln in lines)


def test_profile_objects_are_frozen(write_profile: Callable[..., Path], pm: pluggy.PluginManager) -> None:
    profile = load_profile(write_profile(GOOD), pm)
    with pytest.raises(pydantic.ValidationError):
        profile.lanes[0].policy.deadline_ms = 5  # type: ignore[misc]
    assert profile.lanes[0].devices[2].travel_ms == 100  # type: ignore[attr-defined]


def test_schema_command_exports_json_schema_with_every_device_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    text = json.dumps(schema)
    assert "sim.barrier" in text and "gate_sim" in text and schema["additionalProperties"] is False


def test_load_profile_raises_with_all_issues(write_profile: Callable[..., Path], pm: pluggy.PluginManager) -> None:
    text = textwrap.dedent(bad("travel_ms = 100", "travel_ms = -1").replace('role = "exit"', 'role = "entry"'))
    with pytest.raises(ProfileError) as err:
        load_profile(write_profile(text), pm)
    assert len(err.value.issues) >= 2


SECRET_CASES = [
    ('token = "hunter2"', "secrets are never written in a profile: expected 'env:NAME' or 'file:PATH'"),
    ('token = "env:GATECORE_TEST_UNSET_VAR"', "environment variable GATECORE_TEST_UNSET_VAR is not set"),
    ('token = "file:/nonexistent/secret"', "cannot read /nonexistent/secret"),
    ("token = 5", "expected a secret reference"),
]


@pytest.mark.parametrize(("line", "fragment"), SECRET_CASES)
def test_secrets_must_be_readable_references(
    line: str, fragment: str, write_profile: Callable[..., Path], pm: pluggy.PluginManager,
) -> None:
    path = write_profile(GOOD + f"[plugins.scripted]\n{line}\n")
    with pytest.raises(ProfileError) as err:
        load_profile(path, pm)
    (issue,) = err.value.issues
    assert (issue.line, issue.path) == (25, "plugins.scripted.token") and fragment in issue.message
    assert "hunter2" not in str(issue)


def test_a_secret_reference_reveals_its_value_only_on_demand(
    write_profile: Callable[..., Path], pm: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    monkeypatch.setenv("GATECORE_TEST_TOKEN", "from-env")
    for ref, value in ((f"file:{tmp_path / 'token'}", "s3cret"), ("env:GATECORE_TEST_TOKEN", "from-env")):
        profile = load_profile(write_profile(GOOD + f'[plugins.scripted]\ntoken = "{ref}"\n'), pm)
        token = profile.plugin_config("scripted").token  # type: ignore[union-attr]
        assert value not in repr(token) and token.reveal() == value


def test_a_profile_can_disable_an_installed_plugin(
    write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    text = bad("[plugins.gate_sim]", '[plugins]\ndisable = ["gate_hw"]\n[plugins.gate_sim]')
    code, lines = check(write_profile(text), capsys)
    assert (code, lines) == (0, [])
    assert main(["plugins", str(write_profile(text))]) == 0
    assert "gate_hw" not in capsys.readouterr().out
