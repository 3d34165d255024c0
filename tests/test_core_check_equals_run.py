"""`gatecore check` refuses exactly what `gatecore run` would refuse before touching hardware: every
cross-reference a plugin needs while the site is built is checked with the profile, at its location;
and a profile that passes the check builds its site (``Site(profile, pm)``: devices and sources made,
no link opened) without a configuration error.

Issue 10, part 3, and issue 11, item 6. Each ``test_*_is_refused_*`` here fails on main before this
change: there `check` exits 0 (or reports at 1:1) and the error appears only while the site is built,
without a location (SiteError, ValueError, FileNotFoundError).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gatecore.cli import main

from .test_core_profile import GOOD, builds
from .test_core_run import run

_ROOT = Path(__file__).resolve().parent.parent
#: the site profiles and the plugins' examples (profiles/examples/, whose lists are named from the repo root)
PROFILES = sorted([*(_ROOT / "profiles").glob("*.toml"), *(_ROOT / "profiles" / "examples").glob("*.toml")])

HW = """\
[site]
id = "t/hw"

[plugins.gate_hw.osdp.bus-a]
port = "/dev/null"
pds = [{ address = 1, secure = false }]

[plugins.gate_hw.modbus.gates]
transport = "tcp"
host = "127.0.0.1"

[[lanes]]
id = "l1"
trigger = "reader"
barrier = "leaves"
lights = "lights"
display = "display"
  [[lanes.devices]]
  kind = "osdp.reader"
  role = "reader"
  bus = "bus-a"
  address = 1
  [[lanes.devices]]
  kind = "osdp.text"
  role = "display"
  bus = "bus-a"
  address = 1
  [[lanes.devices]]
  kind = "modbus.barrier"
  role = "leaves"
  controller = "gates"
  command = { table = "coil", address = 0 }
  open_limit = { table = "discrete_input", address = 0 }
  closed_limit = { table = "discrete_input", address = 1 }
  [[lanes.devices]]
  kind = "modbus.lights"
  role = "lights"
  controller = "gates"
  aspect = { table = "holding_register", address = 0 }
"""

FACE_LANE = """\
  [[lanes.devices]]
  kind = "sim.camera"
  role = "face"
  [[lanes.evidence]]
  kind = "face.match"
  source = "face"
  camera = "{camera}"
"""


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """``gatecore check``; a profile it passes must build its site."""
    code = main(["check", str(path)])
    lines = capsys.readouterr().out.splitlines()
    assert builds(path) == (code == 0), lines
    return code, lines


def refused_at(path: Path, capsys: pytest.CaptureFixture[str], line: int, col: int, key: str, fragment: str) -> None:
    code, lines = check(path, capsys)
    wanted = f"{path}:{line}:{col}: {key}: "
    assert code == 2 and any(ln.startswith(wanted) and fragment in ln for ln in lines), (wanted, fragment, lines)


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# -- first-party profiles and the profiles of the tests ---------------------------------------------


@pytest.mark.parametrize("path", PROFILES, ids=[p.name for p in PROFILES])
def test_a_first_party_profile_checks_clean_exactly_when_its_site_builds(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(_ROOT)  # the profiles name their files from the repo root, as `make demo` runs them
    check(path, capsys)


def test_the_good_profiles_of_the_tests_build_their_sites(
    write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    for text in (GOOD, HW, GOOD.replace('role = "exit"', 'role = "exit"\n  [[lanes.devices]]\n  kind = "sim.reader"\n'
                                        '  role = "qr"')):
        assert check(write_profile(text), capsys)[0] == 0


# -- the core's roles ---------------------------------------------------------------------------------


def test_a_barrier_role_naming_lights_is_refused_at_the_role(
    write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    text = edit(HW, 'barrier = "leaves"', 'barrier = "lights"')
    refused_at(write_profile(text), capsys, 15, 1, "lanes[0].barrier",
               "device 'lights' makes Lights (kind 'modbus.lights'), expected Barrier; Barrier devices in this "
               "lane: 'leaves'")


@pytest.mark.parametrize(("key", "role", "expected"), [
    ("trigger", "leaves", "expected Presence or Reader"), ("lights", "display", "expected Lights"),
    ("display", "reader", "expected Display"), ("exit", "reader", "expected Presence"),
])
def test_a_role_naming_a_device_of_another_model_is_refused(
    key: str, role: str, expected: str, write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    text = edit(HW, 'barrier = "leaves"', f'barrier = "leaves"\n{key} = "{role}"') if key == "exit" else \
        edit(HW, f'{key} = "', f'{key} = "{role}"\n#')
    code, lines = check(write_profile(text), capsys)
    assert code == 2 and any(f": lanes[0].{key}: device {role!r} makes" in ln and expected in ln for ln in lines), lines


# -- gate_hw --------------------------------------------------------------------------------------


HW_GAPS = [  # (what, old text, new text, line, column, key path, message)
    ("osdp-bus-undefined", 'bus = "bus-a"', 'bus = "bus-b"', 21, 3, "lanes[0].devices[0].bus",
     "no OSDP bus 'bus-b' in [plugins.gate_hw.osdp]; buses: 'bus-a'"),
    ("pd-address-not-on-bus", 'address = 1\n  [[lanes.devices]]\n  kind = "osdp.text"',
     'address = 9\n  [[lanes.devices]]\n  kind = "osdp.text"', 22, 3, "lanes[0].devices[0].address",
     "OSDP bus 'bus-a' has no PD at address 9; its PDs: 1"),
    ("modbus-controller-undefined", 'role = "lights"\n  controller = "gates"', 'role = "lights"\n  controller = "gate"',
     38, 3, "lanes[0].devices[3].controller",
     "no Modbus controller 'gate' in [plugins.gate_hw.modbus]; controllers: 'gates'"),
    ("command-not-writable", 'command = { table = "coil"', 'command = { table = "discrete_input"', 32, 3,
     "lanes[0].devices[2].command", "a discrete_input cannot be written"),
]


@pytest.mark.parametrize(("old", "new", "line", "col", "key", "message"), [g[1:] for g in HW_GAPS],
                         ids=[g[0] for g in HW_GAPS])
def test_a_hardware_device_whose_link_the_site_cannot_make_is_refused_at_its_key(
    old: str, new: str, line: int, col: int, key: str, message: str,
    write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    """An OSDP reader on a bus that is not defined, a PD address not on its bus, a Modbus device naming an
    undefined controller, a barrier command on a read-only table."""
    refused_at(write_profile(edit(HW, old, new)), capsys, line, col, key, message)


# -- gate_sim, gate_face, gate_barcode -------------------------------------------------------------------


def test_a_fault_plan_naming_a_lane_that_does_not_exist_is_refused_at_the_lane(
    write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    text = edit(GOOD, "traffic = false", 'traffic = false\nfaults = [{ lane = "l9", role = "barrier", mode = "drop", '
                                         "at_s = 1 }]")
    refused_at(write_profile(text), capsys, 6, 13, "plugins.gate_sim.faults[0].lane", "no lane 'l9' in this site")


@pytest.mark.parametrize(("role", "fragment"), [("gate", "lane 'l1' has no device with role 'gate'"),
                                                ("qr", "device 'qr' of lane 'l1' is not simulated")])
def test_a_fault_plan_naming_a_device_the_simulation_cannot_fail_is_refused(
    role: str, fragment: str, write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    text = edit(GOOD, "traffic = false", f'traffic = false\nfaults = [{{ lane = "l1", role = "{role}", mode = "drop", '
                                         "at_s = 1 }]")
    text = edit(text, 'role = "exit"', 'role = "exit"\n  [[lanes.devices]]\n  kind = "camera.opencv"\n  role = "qr"\n'
                                       '  source = "/dev/null"')
    refused_at(write_profile(text), capsys, 6, 26, "plugins.gate_sim.faults[0].role", fragment)


def test_a_simulated_camera_replaying_a_missing_folder_is_refused(
    write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    text = GOOD + FACE_LANE.split("  [[lanes.evidence]]")[0] + f'  images = "{tmp_path / "nope"}"\n'
    refused_at(write_profile(text), capsys, 27, 3, "lanes[0].devices[3].images", "is not a folder")


def test_face_evidence_without_its_section_is_refused_at_the_evidence(
    write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    refused_at(write_profile(GOOD + FACE_LANE.format(camera="face")), capsys, 28, 3, "lanes[0].evidence[1].kind",
               "face evidence needs a [plugins.gate_face] section")


def test_face_evidence_whose_camera_is_not_a_camera_is_refused_at_the_camera(
    write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    refused_at(write_profile(GOOD + FACE_LANE.format(camera="exit")), capsys, 30, 3, "lanes[0].evidence[1].camera",
               "device 'exit' makes Presence (kind 'sim.presence'), expected Camera; Camera devices in this lane: "
               "'face'")


@pytest.mark.parametrize(("key", "role", "fragment"), [
    ("camera", "cam", "no device with role 'cam' in this lane"),
    ("reader", "exit", "device 'exit' makes Presence (kind 'sim.presence'), expected Reader"),
])
def test_a_pass_source_whose_camera_or_reader_is_missing_is_refused(
    key: str, role: str, fragment: str, write_profile: Callable[..., Path], capsys: pytest.CaptureFixture[str],
) -> None:
    text = GOOD + f'  [[lanes.evidence]]\n  kind = "barcode.pass"\n  source = "pass"\n  {key} = "{role}"\n'
    refused_at(write_profile(text), capsys, 27, 3, f"lanes[0].evidence[1].{key}", fragment)


def test_run_builds_a_site_of_modbus_devices_in_its_event_loop(write_profile: Callable[..., Path]) -> None:
    """A Modbus device's client binds to the running loop when it is made; on main `gatecore run` made the
    site before its loop ran and a profile that `check` passed ended in a RuntimeError traceback. Now the
    run starts (nothing answers at 127.0.0.1:502 or on /dev/null: the lane degrades) and stops."""
    proc = run("run", str(write_profile(HW)), "--duration", "0.5", "--log-level", "error", timeout=120)
    assert proc.returncode == 0 and '"site": "t/hw"' in proc.stdout, proc.stderr[-2000:]
