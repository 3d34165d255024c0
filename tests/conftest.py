"""Shared fixtures: a fresh plugin manager and site per test, from a minimal profile plus overrides."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pluggy
import pytest

from gatecore.api import Site
from gatecore.plugins import make_manager, register
from gatecore.profile import load_profile
from gatecore.testing import running, wait_for

from . import scripted


@pytest.fixture(scope="session")
def dlib_models() -> Path:
    """dlib's face models converted by ``gatecore face models install`` from the installed registry package,
    once: kept under .cache/face_models/ (gitignored) and converted again only when the converter or the
    package changes."""
    from face_models.cache import cached_install

    return cached_install(Path(__file__).resolve().parents[1] / ".cache" / "face_models")


@pytest.fixture(scope="session")
def demo_assets() -> Path:
    """The demo's world and assets in var/demo/ (what profiles/demo.toml names), built from its seed by
    ``python -m tools.demo`` as ``make demo`` does, or reused when up to date."""
    from tools.demo.build import build

    root = Path(__file__).resolve().parents[1]
    build(root / "profiles" / "demo.toml", root / "var" / "demo")
    return root / "var" / "demo"


@pytest.fixture
def pm() -> pluggy.PluginManager:
    manager = make_manager()
    register(manager, scripted, "scripted")
    return manager


LANE = """
[[lanes]]
id = "{lane}"
exit = "exit"
lights = "lights"
display = "display"
  [lanes.policy]
  require = ["a"]
  deadline_ms = 300
  confirm_timeout_ms = 200
  clear_timeout_ms = 600
  refer_hold_ms = 0
  recover_every_ms = 50
  [[lanes.devices]]
  kind = "sim.presence"
  role = "entry"
  [[lanes.devices]]
  kind = "sim.presence"
  role = "exit"
  [[lanes.devices]]
  kind = "{barrier}"
  role = "barrier"
  {barrier_extra}
  [[lanes.devices]]
  kind = "sim.lights"
  role = "lights"
  [[lanes.devices]]
  kind = "sim.display"
  role = "display"
  [[lanes.evidence]]
  kind = "scripted"
  source = "a"
  deadline_ms = 200
"""

SITE = """
[site]
id = "test/site"
[run]
shutdown_timeout_s = 2.0
report_timeout_ms = 500
[plugins.gate_sim]
traffic = false
"""


def lane_toml(lane: str = "l1", barrier: str = "sim.barrier", barrier_extra: str = "travel_ms = 10") -> str:
    return LANE.format(lane=lane, barrier=barrier, barrier_extra=barrier_extra)


def chaos_lane_toml(lane: str = "l1") -> str:
    """A lane whose lights, display and evidence come from the chaos plugin (``tests/chaos.py``), with a
    barrier that checks the safety invariant (``watched.barrier`` of ``tests/scripted.py``)."""
    return (lane_toml(lane, barrier="watched.barrier", barrier_extra="travel_ms = 5")
            .replace('kind = "sim.lights"', 'kind = "chaos.lights"')
            .replace('kind = "sim.display"', 'kind = "chaos.display"')
            .replace('kind = "scripted"', 'kind = "chaos"'))


@pytest.fixture
def write_profile(tmp_path: Path) -> Callable[..., Path]:
    def write(text: str, name: str = "site.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path
    return write


@pytest.fixture
def make_site(pm: pluggy.PluginManager, write_profile: Callable[..., Path]) -> Callable[..., Site]:
    def make(extra: str = "", lanes: str | None = None) -> Site:
        path = write_profile(SITE + extra + (lanes if lanes is not None else lane_toml()))
        return Site(load_profile(path, pm), pm)
    return make


__all__ = ["running", "wait_for"]
