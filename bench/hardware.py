"""Hardware link figures: OSDP over a pty at 115200 baud (our control panel and, as the baseline, libosdp's
own control panel, both driving the same libosdp PD with the secure channel on), Modbus TCP on 127.0.0.1
(our ModbusLink and, as the baseline, bare pymodbus calls).

    python bench/hardware.py [--seconds 3] [--commands 40]

Prints the figures, writes its section of BENCHMARKS.md, and prints a JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import time
import tty
from pathlib import Path
from typing import Any

import osdp  # type: ignore[import-untyped]

from firmware_bridge.modbus.client import ModbusLink
from firmware_bridge.modbus.poller import Poller
from firmware_bridge.osdp.cp import ControlPanel, PdConfig, PdOffline
from firmware_bridge.osdp.messages import Cmd, OutputCommand, OutputControl
from firmware_bridge.testing.modbus_peer import CONTROLLER_MAP, BarrierController
from firmware_bridge.testing.osdp_peer import LibosdpPd, PtyBus

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
SECTION = "## Hardware links (bench/hardware.py)"


def ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 2)


async def our_cp(seconds: float, commands: int) -> dict[str, float]:
    bus = PtyBus()
    pd = LibosdpPd(bus, 1, scbk=KEY)
    try:
        async with ControlPanel(bus.path, [PdConfig(1, secure=True, scbk=KEY)], poll_interval=0) as cp:
            await cp.wait_online(1, 10)
            polls0, t0 = bus.commands_heard[Cmd.POLL], time.monotonic()
            await asyncio.sleep(seconds)
            polls_per_s = (bus.commands_heard[Cmd.POLL] - polls0) / (time.monotonic() - t0)
            round_trips, to_pd = [], []
            for i in range(commands):
                seen = len(pd.state.received_at)
                start = time.monotonic()
                await cp.output(1, OutputCommand(0, OutputControl.ON if i % 2 else OutputControl.OFF))
                round_trips.append(time.monotonic() - start)
                to_pd.append(pd.state.received_at[seen] - start)
    finally:
        pd.stop()
        bus.close()
    return {"polls_per_s": round(polls_per_s, 1), "cmd_ms_p50": ms(round_trips), "cmd_to_pd_ms_p50": ms(to_pd)}


class _FdChannel(osdp.Channel):  # type: ignore[misc]
    """libosdp's control panel on the CP end of the pty (non-blocking fd)."""

    def __init__(self, fd: int) -> None:
        self.id = 1
        self.fd = fd

    def read(self, max_bytes: int) -> bytes:
        try:
            return os.read(self.fd, max_bytes)
        except BlockingIOError:
            return b""

    def write(self, buf: bytes) -> int:
        try:
            return os.write(self.fd, bytes(buf))
        except BlockingIOError:
            return 0

    def flush(self) -> None:
        pass


def libosdp_cp(seconds: float, commands: int) -> dict[str, float]:
    bus = PtyBus()
    pd = LibosdpPd(bus, 1, scbk=KEY)
    fd = os.open(bus.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    cp = osdp.ControlPanel([osdp.PDInfo(1, _FdChannel(fd), scbk=KEY)], log_level=osdp.LogLevel.Error)
    cp.start()
    try:
        if not cp.sc_wait_all(timeout=10):
            raise RuntimeError("libosdp CP: no secure channel")
        polls0, t0 = bus.commands_heard[Cmd.POLL], time.monotonic()
        time.sleep(seconds)
        polls_per_s = (bus.commands_heard[Cmd.POLL] - polls0) / (time.monotonic() - t0)
        to_pd = []
        for i in range(commands):
            seen = len(pd.state.received_at)
            start = time.monotonic()
            cp.submit_command(1, {"command": osdp.Command.Output, "output_no": 0, "control_code": 2 - i % 2,
                                  "timer_count": 0})
            while len(pd.state.received_at) == seen and time.monotonic() - start < 5:
                time.sleep(0.0005)
            to_pd.append(pd.state.received_at[seen] - start)
    finally:
        cp.teardown()
        pd.stop()
        bus.close()
        os.close(fd)
    return {"polls_per_s": round(polls_per_s, 1), "cmd_to_pd_ms_p50": ms(to_pd)}


async def modbus(requests: int) -> dict[str, float]:
    async with BarrierController.tcp() as ctl:
        link = ModbusLink.tcp("127.0.0.1", ctl.port)
        await link.connect()
        aspect = CONTROLLER_MAP["aspect"]
        single, confirmed, raw = [], [], []
        try:
            for i in range(requests):
                start = time.monotonic()
                await link.read(aspect)
                single.append(time.monotonic() - start)
                start = time.monotonic()
                await link.write(aspect, i % 4)  # write + read-back
                confirmed.append(time.monotonic() - start)
            client = link._client  # the same pymodbus client, called bare: the baseline
            for i in range(requests):
                start = time.monotonic()
                await client.read_holding_registers(0, count=1, device_id=1)
                raw.append(time.monotonic() - start)
                start = time.monotonic()
                await client.write_register(0, i % 4, device_id=1)
                raw.append(time.monotonic() - start)
        finally:
            link.close()
    return {"rw_ms_p50": ms(single), "write_confirmed_ms_p50": ms(confirmed), "pymodbus_rw_ms_p50": ms(raw)}


async def osdp_unplug_ms() -> float:
    """PD powered off -> PdOffline, with the gate_hw defaults (reply 150 ms, 2 retries, 3 misses)."""
    bus = PtyBus()
    pd = LibosdpPd(bus, 1, scbk=KEY)
    offline = asyncio.Event()
    try:
        cp = ControlPanel(bus.path, [PdConfig(1, secure=True, scbk=KEY)], reply_timeout=0.15, retries=2,
                          offline_after=3, poll_interval=0.02)
        cp.add_listener(lambda e: offline.set() if isinstance(e, PdOffline) else None)
        async with cp:
            await cp.wait_online(1, 10)
            pd.stop()
            start = time.monotonic()
            await asyncio.wait_for(offline.wait(), 30)
            return round((time.monotonic() - start) * 1000)
    finally:
        bus.close()


async def modbus_unplug_ms() -> float:
    """Controller gone -> link down, with the gate_hw defaults (poll 100 ms, timeout 300 ms, 3 misses)."""
    ctl = BarrierController.tcp()
    await ctl.start()
    up, down = asyncio.Event(), asyncio.Event()
    poller = Poller(ModbusLink.tcp("127.0.0.1", ctl.port, timeout=0.3), CONTROLLER_MAP, interval=0.1,
                    offline_after=3, on_link=lambda online, reason: (up if online else down).set())
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.wait_for(up.wait(), 10)
        await ctl.stop()
        start = time.monotonic()
        await asyncio.wait_for(down.wait(), 30)
        return round((time.monotonic() - start) * 1000)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def write_section(text: str) -> None:
    path = Path("BENCHMARKS.md")
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\Z)", re.S)
    new = pattern.sub(text.rstrip("\n"), old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    path.write_text(new.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="polling window per control panel")
    parser.add_argument("--commands", type=int, default=40, help="commands / requests timed per link")
    args = parser.parse_args()
    ours = asyncio.run(our_cp(args.seconds, args.commands))
    theirs = libosdp_cp(args.seconds, args.commands)
    mb = asyncio.run(modbus(args.commands))
    unplug = {"osdp": asyncio.run(osdp_unplug_ms()), "modbus": asyncio.run(modbus_unplug_ms())}
    result: dict[str, Any] = {
        "bench": "hardware",
        "osdp_polls_per_s": ours["polls_per_s"],
        "osdp_cmd_ms_p50": ours["cmd_ms_p50"],
        "modbus_rw_ms_p50": mb["rw_ms_p50"],
        "osdp_cmd_to_pd_ms_p50": ours["cmd_to_pd_ms_p50"],
        "libosdp_cp_polls_per_s": theirs["polls_per_s"],
        "libosdp_cp_cmd_to_pd_ms_p50": theirs["cmd_to_pd_ms_p50"],
        "polls_ratio_vs_libosdp": round(ours["polls_per_s"] / theirs["polls_per_s"], 2),
        "modbus_write_confirmed_ms_p50": mb["write_confirmed_ms_p50"],
        "pymodbus_bare_rw_ms_p50": mb["pymodbus_rw_ms_p50"],
        "osdp_unplug_to_offline_ms": unplug["osdp"],
        "modbus_unplug_to_offline_ms": unplug["modbus"],
    }
    command = f"python bench/hardware.py --seconds {args.seconds:g} --commands {args.commands}"
    lines = [
        SECTION, "",
        f"`{command}` on {platform.machine()}, Python {platform.python_version()}, libosdp {_libosdp_version()}, "
        f"{os.cpu_count()} cores (shared). OSDP: one libosdp PD (secure channel, AES-128) on a pty at 115200 baud; "
        "libosdp's PD answers from a thread that sleeps 20 ms between refreshes, which bounds both control panels; "
        "libosdp's CP also paces its polls itself (its default poll period), so the poll ratio compares the two "
        "control panels as shipped, not the wire. "
        "Modbus: pymodbus server on 127.0.0.1.", "",
        "| figure | gatecore (firmware_bridge) | baseline, same run |",
        "| --- | --- | --- |",
        f"| OSDP polls per second (POLLs seen on the line) | {ours['polls_per_s']} | "
        f"libosdp CP: {theirs['polls_per_s']} |",
        f"| OSDP command, submit -> PD callback, p50 ms | {ours['cmd_to_pd_ms_p50']} | "
        f"libosdp CP: {theirs['cmd_to_pd_ms_p50']} |",
        f"| OSDP command, submit -> ACK checked, p50 ms | {ours['cmd_ms_p50']} | - |",
        f"| Modbus TCP request (read or write), p50 ms | {mb['rw_ms_p50']} (read) | "
        f"bare pymodbus: {mb['pymodbus_rw_ms_p50']} |",
        f"| Modbus TCP write confirmed by read-back, p50 ms | {mb['write_confirmed_ms_p50']} | - |",
        f"| OSDP PD powered off -> offline event, ms (gate_hw defaults) | {unplug['osdp']} | issue asks <= 2000 |",
        f"| Modbus controller gone -> offline event, ms (gate_hw defaults) | {unplug['modbus']} | issue asks <= 2000 |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    write_section(text)
    print(json.dumps(result))


def _libosdp_version() -> str:
    from importlib.metadata import version

    return version("libosdp")


if __name__ == "__main__":
    main()
