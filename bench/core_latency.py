"""The core's own cost: 16 simulated lanes at 10 crossings/s each.

Evidence sources answer at once and the barrier has no travel time, so what is measured is the core
(hooks, state machine, logging, records) plus the simulated devices and traffic. Figures:
trigger -> actuator command latency (p50/p99/max), CPU time per crossing, and, measured in the same run
as a baseline, a bare pluggy hook call with 5 implementations and an ``asyncio.gather`` of 5 async ones.

    python bench/core_latency.py [--duration SECONDS] [--repeat N] [--lanes N] [--rate PER_LANE_PER_S]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pluggy
from _report import write_section

from gatecore import logs
from gatecore.plugins import available, make_manager
from gatecore.profile import load_profile
from gatecore.site import Site, percentile

LANE = """
[[lanes]]
id = "lane-{n:02d}"
exit = "exit"
lights = "lights"
display = "display"
policy = {{ require = ["pass", "face"], deadline_ms = 500, refer_hold_ms = 0 }}
  [[lanes.devices]]
  kind = "sim.presence"
  role = "entry"
  [[lanes.devices]]
  kind = "sim.presence"
  role = "exit"
  [[lanes.devices]]
  kind = "sim.barrier"
  role = "barrier"
  travel_ms = 0
  [[lanes.devices]]
  kind = "sim.lights"
  role = "lights"
  [[lanes.devices]]
  kind = "sim.display"
  role = "display"
  [[lanes.evidence]]
  kind = "sim.evidence"
  source = "pass"
  latency_ms = [0.0, 0.0]
  [[lanes.evidence]]
  kind = "sim.evidence"
  source = "face"
  latency_ms = [0.0, 0.0]
"""


#: Installed plugins this profile does not use (their report hooks would otherwise run per crossing).
UNUSED = ["gate_barcode", "gate_camera", "gate_console", "gate_face", "gate_hw", "gate_ioc", "gate_metrics"]


def profile_text(lanes: int, rate: float, disable: list[str]) -> str:
    head = (f'[site]\nid = "bench/core"\n[logging]\nlevel = "info"\n'
            f"[plugins]\ndisable = {json.dumps(disable)}\n"
            f"[plugins.gate_sim]\nseed = 3\narrivals_per_min = {rate * 60}\ndwell_ms = 15\nofficer_ms = 15\n")
    return head + "".join(LANE.format(n=n) for n in range(lanes))


def hook_baseline(rounds: int = 20000) -> tuple[float, float]:
    """µs per pluggy call of a hook with 5 sync implementations, and per gather of 5 async ones."""
    spec, impl = pluggy.HookspecMarker("b"), pluggy.HookimplMarker("b")

    class Spec:
        @spec
        def h(self, x: int) -> int: ...

    pm = pluggy.PluginManager("b")
    pm.add_hookspecs(Spec)
    for i in range(5):
        pm.register(type(f"P{i}", (), {"h": impl(lambda self, x: x)})())
    t0 = time.perf_counter()
    for i in range(rounds):
        pm.hook.h(x=i)
    sync_us = (time.perf_counter() - t0) / rounds * 1e6

    async def one(x: int) -> int:
        return x

    async def gathers() -> float:
        t = time.perf_counter()
        for i in range(rounds // 4):
            await asyncio.gather(*(one(i) for _ in range(5)))
        return (time.perf_counter() - t) / (rounds // 4) * 1e6

    return sync_us, asyncio.run(gathers())


class TaskOnly:
    """A source seen only through ``collect``, which waits once: the lane runs it as a task of its own."""

    def __init__(self, source: Any) -> None:
        self.source, self._inner = source.source, source

    async def collect(self, txn: Any) -> Any:
        await asyncio.sleep(0)
        return await self._inner.collect(txn)


async def measure(lanes: int, rate: float, duration: float, tasks: bool = False) -> dict[str, Any]:
    path = Path(tempfile.mkdtemp()) / "bench.toml"
    disable = sorted(set(UNUSED) & available())  # by name: the unused are never imported
    path.write_text(profile_text(lanes, rate, disable))
    pm = make_manager(disable)
    site = Site(load_profile(path, pm), pm)
    if tasks:
        for lane_id in site.lanes:
            lane = site.lane(lane_id)
            lane.sources = tuple(dataclasses.replace(src, source=TaskOnly(src.source)) for src in lane.sources)
    cpu0, wall0 = time.process_time(), time.monotonic()
    await site.run(duration=duration)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    crossings = sum(lane.crossings for lane in site.lanes.values())
    return {
        "crossings": crossings,
        "crossings_per_s": crossings / wall,
        "command_ms": [v for lane_id in site.lanes for v in site.lane(lane_id).stats.command_ms],
        "cpu_ms_per_crossing": cpu * 1000 / max(1, crossings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs; figures are medians over them")
    parser.add_argument("--lanes", type=int, default=16)
    parser.add_argument("--rate", type=float, default=10.0, help="arrivals per lane per second")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args()
    runs, hooks, gathers = [], [], []
    with open(os.devnull, "w") as sink:
        logs.configure("info", "json", sink)  # the JSON rendering is part of the cost
        for _ in range(args.repeat):  # the baselines are measured beside each run: this machine's speed drifts
            sync_us, gather_us = hook_baseline()
            hooks.append(sync_us)
            gathers.append(gather_us)
            runs.append(asyncio.run(measure(args.lanes, args.rate, args.duration)))
        task_run = asyncio.run(measure(args.lanes, args.rate, args.duration, tasks=True))
        task_hook, _ = hook_baseline()
    command_ms = [v for run in runs for v in run["command_ms"]]
    cpu_runs = [run["cpu_ms_per_crossing"] for run in runs]
    cpu = statistics.median(cpu_runs)
    # CPU per crossing in units of the baseline hook call measured just before the same run
    cpu_in_hooks = statistics.median(r["cpu_ms_per_crossing"] * 1000 / h for r, h in zip(runs, hooks, strict=True))
    crossings = sum(run["crossings"] for run in runs)
    rate = statistics.median(run["crossings_per_s"] for run in runs)
    p50, p99, worst = statistics.median(command_ms), percentile(command_ms, 99), max(command_ms)
    hook_us, gather_us = statistics.median(hooks), statistics.median(gathers)
    print(f"{args.lanes} lanes, {args.rate:g} arrivals/s per lane, {args.repeat} x {args.duration:g} s: "
          f"{crossings} crossings ({rate:.1f}/s)")
    print(f"trigger -> actuator command: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {worst:.3f} ms")
    print(f"CPU per crossing: median {cpu:.3f} ms (runs: {', '.join(f'{c:.3f}' for c in cpu_runs)}), "
          f"{cpu_in_hooks:.0f} baseline hook calls")
    task_cpu = task_run["cpu_ms_per_crossing"]
    task_row = f"{task_cpu:.3f} ms ({task_cpu * 1000 / task_hook:.0f} hook calls)"
    print(f"CPU per crossing with every source run as a task (a collect that waits once): {task_cpu:.3f} ms, "
          f"{task_cpu * 1000 / task_hook:.0f} baseline hook calls")
    print(f"baseline (same runs, medians): pluggy hook, 5 impls {hook_us:.2f} us; "
          f"gather of 5 async impls {gather_us:.2f} us")
    line = {"bench": "core_latency", "lanes": args.lanes, "p50_ms": round(p50, 3), "p99_ms": round(p99, 3),
            "max_ms": round(worst, 3), "cpu_ms_per_crossing": round(cpu, 3),
            "cpu_ms_per_crossing_runs": [round(c, 3) for c in cpu_runs], "cpu_in_hook_calls": round(cpu_in_hooks),
            "cpu_ms_per_crossing_sources_as_tasks": round(task_cpu, 3),
            "crossings": crossings, "baseline_hook5_us": round(hook_us, 2), "baseline_gather5_us": round(gather_us, 2)}
    if not args.no_write:
        cmd = (f"python bench/core_latency.py --duration {args.duration:g} --repeat {args.repeat} "
               f"--lanes {args.lanes} --rate {args.rate:g}")
        write_section("core_latency", cmd, f"""
| figure | value | target |
| --- | --- | --- |
| crossings | {crossings} in {args.repeat} runs ({rate:.1f}/s) | 16 lanes x 10/s |
| trigger -> actuator command p50 (all runs) | {p50:.3f} ms | |
| trigger -> actuator command p99 (all runs) | {p99:.3f} ms | <= 2 ms |
| trigger -> actuator command max (all runs) | {worst:.3f} ms | |
| CPU per crossing, median of runs (core + simulated devices, traffic, JSON logs) | {cpu:.3f} ms | <= 1 ms |
| CPU per crossing, each run | {', '.join(f'{c:.3f}' for c in cpu_runs)} ms | |
| CPU per crossing / baseline hook call of the same run (median) | {cpu_in_hooks:.0f} | |
| CPU per crossing, one more run with each source as a task (a `collect` that waits once) | {task_row} | |
| baseline: pluggy hook call, 5 sync implementations (median) | {hook_us:.2f} us | |
| baseline: `asyncio.gather` of 5 async implementations (median) | {gather_us:.2f} us | |
""", keep_previous=True)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
