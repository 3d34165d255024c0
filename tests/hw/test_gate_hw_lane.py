"""A lane from a profile, driven end to end through real peers: a libosdp reader (secure channel) and a
pymodbus barrier controller with lights and loops. Also: the fault model (controller unplugged)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from hw_helpers import until

import gate_hw as gate_hw
import gate_sim as gate_sim
from firmware_bridge.testing.modbus_peer import BarrierController
from firmware_bridge.testing.osdp_peer import LibosdpPd, PtyBus
from gatecore.api import LaneState, LaneStateChange, ProfileError, Site, hookimpl
from gatecore.plugins import make_manager, register
from gatecore.profile import load_profile

KEY_HEX = "00112233445566778899aabbccddeeff"

PROFILE = """
[site]
id = "test/hw"
[plugins.gate_hw.osdp.lane-bus]
port = "{port}"
reply_timeout_ms = 150
retries = 2
offline_after = 3
pds = [{{ address = 1, secure = true, scbk = "env:GATE_HW_TEST_SCBK" }}]
[plugins.gate_hw.modbus.barrier-ctl]
transport = "tcp"
port = {modbus_port}
poll_ms = 20
timeout_ms = 200
offline_after = 3
[plugins.gate_sim]
traffic = false
[[lanes]]
id = "bl1-egate-1"
trigger = "reader"
exit = "exit-loop"
barrier = "barrier"
lights = "lights"
  [lanes.policy]
  require = ["pass"]
  deadline_ms = 1000
  confirm_timeout_ms = 2000
  refer_hold_ms = 0
  recover_every_ms = 200
  [[lanes.devices]]
  kind = "osdp.reader"
  role = "reader"
  bus = "lane-bus"
  address = 1
  [[lanes.devices]]
  kind = "modbus.barrier"
  role = "barrier"
  controller = "barrier-ctl"
  command = {{ table = "coil", address = 0 }}
  open_limit = {{ table = "discrete_input", address = 0 }}
  closed_limit = {{ table = "discrete_input", address = 1 }}
  [[lanes.devices]]
  kind = "modbus.lights"
  role = "lights"
  controller = "barrier-ctl"
  aspect = {{ table = "holding_register", address = 0 }}
  [[lanes.devices]]
  kind = "modbus.presence"
  role = "exit-loop"
  controller = "barrier-ctl"
  occupied = {{ table = "discrete_input", address = 3 }}
  [[lanes.evidence]]
  kind = "sim.evidence"
  source = "pass"
  pass_weight = 1.0
  deny_weight = 0.0
  refer_weight = 0.0
  latency_ms = [1.0, 5.0]
"""


class StateLog:
    def __init__(self) -> None:
        self.changes: list[LaneStateChange] = []

    @hookimpl
    def gatecore_report_lane_state(self, site: Site, change: LaneStateChange) -> None:
        self.changes.append(change)

    def states(self) -> list[LaneState]:
        return [c.new for c in self.changes]



@pytest.fixture
def scbk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_HW_TEST_SCBK", KEY_HEX)


@pytest.fixture
def pm() -> Iterator[tuple[pluggy.PluginManager, StateLog]]:
    manager = make_manager(entry_points_enabled=False)
    register(manager, gate_hw, "gate_hw")
    register(manager, gate_sim, "gate_sim")
    log = StateLog()
    register(manager, log, "state-log")
    yield manager, log


@pytest.fixture
async def controller() -> AsyncIterator[BarrierController]:
    async with BarrierController.tcp(travel_s=0.1) as ctl:
        yield ctl


def write_profile(tmp_path: Path, bus: PtyBus, modbus_port: int, **subs: Any) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(PROFILE.format(port=bus.path, modbus_port=modbus_port, **subs))
    return path


def test_a_pd_in_install_mode_needs_a_key_to_provision(tmp_path: Path, pm: tuple[pluggy.PluginManager, StateLog],
                                                       bus: PtyBus) -> None:
    path = write_profile(tmp_path, bus, 502)
    path.write_text(path.read_text().replace('scbk = "env:GATE_HW_TEST_SCBK"', "install_mode = true"))
    with pytest.raises(ProfileError) as err:
        load_profile(path, pm[0])
    assert "install_mode provisions" in str(err.value)


async def test_a_card_opens_the_barrier_and_the_lane_clears(
    tmp_path: Path, pm: tuple[pluggy.PluginManager, StateLog], bus: PtyBus,
    make_pd: Callable[..., LibosdpPd], controller: BarrierController, scbk_env: None,
) -> None:
    manager, log = pm
    reader = make_pd(1, scbk=bytes.fromhex(KEY_HEX), enforce_secure=True)
    site = Site(load_profile(write_profile(tmp_path, bus, controller.port), manager), manager)
    run = asyncio.create_task(site.run(crossings=1, duration=20))
    try:
        lane = site.lanes["bl1-egate-1"]
        await until(lambda: lane.state is LaneState.IDLE and reader.is_sc_active())
        reader.card(b"PASS-0001")
        await until(lambda: controller.moves == 1)  # the lane opened the barrier through Modbus
        assert await controller.get("aspect") == 2  # green
        await controller.set("loop_exit", True)  # the traveller crosses the exit loop...
        await asyncio.sleep(0.1)
        await controller.set("loop_exit", False)  # ...and leaves it
        await asyncio.wait_for(run, 10)
    finally:
        run.cancel()
    assert controller.moves == 2  # opened once, closed once
    assert await controller.get("command_open") == 0 and await controller.get("closed_limit")
    flow = [s for s in log.states() if s is not LaneState.STOPPED]
    assert flow[-5:] == [LaneState.COLLECTING, LaneState.DECIDING, LaneState.ACTUATING, LaneState.CLEARING,
                         LaneState.IDLE]


async def test_controller_unplugged_degrades_the_lane_and_it_recovers(
    tmp_path: Path, pm: tuple[pluggy.PluginManager, StateLog], bus: PtyBus,
    make_pd: Callable[..., LibosdpPd], scbk_env: None,
) -> None:
    manager, log = pm
    make_pd(1, scbk=bytes.fromhex(KEY_HEX))
    controller = BarrierController.tcp(travel_s=0.05)
    await controller.start()
    port = controller.port
    site = Site(load_profile(write_profile(tmp_path, bus, port), manager), manager)
    run = asyncio.create_task(site.run(duration=30))
    try:
        lane = site.lanes["bl1-egate-1"]
        await until(lambda: lane.state is LaneState.IDLE and lane.barrier.position.value == "closed")
        await controller.stop()
        await until(lambda: lane.state is LaneState.DEGRADED)
        controller = BarrierController.tcp(port, travel_s=0.05)
        await controller.start()
        await until(lambda: lane.state is LaneState.IDLE)
        assert await controller.get("command_open") == 0  # recovery commanded the barrier closed
    finally:
        site.request_stop()
        await asyncio.wait_for(run, 10)
        await controller.stop()
    reasons = [c.reason for c in log.changes if c.new is LaneState.DEGRADED]
    assert reasons and "device_offline" in reasons[0]


async def test_reader_powered_off_degrades_the_lane_and_it_recovers(
    tmp_path: Path, pm: tuple[pluggy.PluginManager, StateLog], bus: PtyBus,
    make_pd: Callable[..., LibosdpPd], controller: BarrierController, scbk_env: None,
) -> None:
    manager, log = pm
    reader = make_pd(1, scbk=bytes.fromhex(KEY_HEX))
    site = Site(load_profile(write_profile(tmp_path, bus, controller.port), manager), manager)
    run = asyncio.create_task(site.run(duration=30))
    try:
        lane = site.lanes["bl1-egate-1"]
        await until(lambda: lane.state is LaneState.IDLE and reader.is_sc_active())
        reader.stop()
        await until(lambda: lane.state is LaneState.DEGRADED)
        make_pd(1, scbk=bytes.fromhex(KEY_HEX))  # powered on again: new session, same key
        await until(lambda: lane.state is LaneState.IDLE)
    finally:
        site.request_stop()
        await asyncio.wait_for(run, 10)
    degraded = [c for c in log.changes if c.new is LaneState.DEGRADED]
    # the reader's role, not its link's words (they stay in firmware_bridge's own log)
    assert degraded and degraded[0].reason == "device_offline: reader: offline"
    assert await controller.get("command_open") == 0  # the barrier was commanded closed
