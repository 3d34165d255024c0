"""The officers' console's cost: 10 browsers on a 16-lane site at 10 crossings/s.

Figures: the CPU the site's process spends with the console and its browsers beyond the same site without
the console, as a share of one core (medians over runs, the two kinds of run taken in turn), and the delay
from a lane event to a browser: for every decision (each one reaches each browser as a history entry) and
every lane tile pushed (the lane's latest state change), the browser's receiving time minus the record's
own wall-clock time, p50/p99/max over all browsers and runs.

The browsers are clients in a process of their own (aiohttp, so that their CPU is not the site's): each
logs in as a browser does (the form and its CSRF token, the session cookie), loads the page, its script
and style once, then holds ``/api/stream``. Measuring starts once every browser is connected.

    python bench/console.py [--duration S] [--repeat N] [--clients N] [--lanes N] [--rates 10,160]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from _report import write_section
from core_latency import LANE
from core_latency import UNUSED as CORE_UNUSED

import gate_console
from gatecore import logs
from gatecore.plugins import available, make_manager
from gatecore.profile import load_profile
from gatecore.site import Site, percentile
from gatecore.testing import wait_for

#: the core_latency site's lanes (sources answer at once, no barrier travel), and the plugins it leaves out
#: but this one
UNUSED = [name for name in CORE_UNUSED if name != "gate_console"]
PASSWORD_ENV = "GATECORE_BENCH_CONSOLE_PASSWORD"


def profile_text(lanes: int, rate: float, console: bool) -> str:
    disable = sorted(set(UNUSED + ([] if console else ["gate_console"])) & available())
    head = (f'[site]\nid = "bench/console"\n[logging]\nlevel = "info"\n[plugins]\ndisable = {json.dumps(disable)}\n'
            f"[plugins.gate_sim]\nseed = 3\narrivals_per_min = {rate * 60 / lanes}\ndwell_ms = 15\nofficer_ms = 15\n")
    if console:
        head += (f'[plugins.gate_console]\nlisten = "127.0.0.1:0"\n'
                 f'demo_account = {{ name = "bench", role = "viewer", password_env = "{PASSWORD_ENV}" }}\n')
    return head + "".join(LANE.format(n=n) for n in range(lanes))


# -- the browsers (a process of their own) ------------------------------------------------------
async def browser(http: aiohttp.ClientSession, base: str, password: str) -> str:
    """Log in as a browser does and load the page; the session cookie."""
    async with http.get(base + "/login") as page:
        token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        login_cookie = page.cookies["gatecore_login"].value
    assert token is not None
    async with http.post(base + "/login", data={"csrf": token.group(1), "name": "bench", "password": password},
                         headers={"Cookie": f"gatecore_login={login_cookie}"}, allow_redirects=False) as answer:
        assert answer.status == 303, answer.status
        cookie = f"gatecore_console={answer.cookies['gatecore_console'].value}"
    for path in ("/", "/static/console.js", "/static/console.css"):
        async with http.get(base + path, headers={"Cookie": cookie}) as response:
            await response.read()
    return cookie


async def watch(http: aiohttp.ClientSession, base: str, cookie: str, until: float, delays: list[float]) -> int:
    """Hold the stream until ``until``; the delay of every decision and tile it brings. Returns pushes read."""
    pushes = 0
    async with http.get(base + "/api/stream", headers={"Cookie": cookie}) as stream:
        while (left := until - time.time()) > 0:
            try:
                line = await asyncio.wait_for(stream.content.readline(), left)
            except TimeoutError:
                break
            if not line.startswith(b"data: "):
                continue
            now = time.time()
            push = json.loads(line[6:])
            if push["type"] == "delta":
                pushes += 1
                delays += [(now - e["t_wall"]) * 1000 for e in push["events"] if e["kind"] == "decision"]
                delays += [(now - tile["changed_at"]) * 1000 for tile in push["lanes"].values() if tile["changed_at"]]
    return pushes


async def browsers(port: int, count: int, seconds: float) -> None:
    base, password = f"http://127.0.0.1:{port}", os.environ[PASSWORD_ENV]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)) as http:
        cookies = [await browser(http, base, password) for _ in range(count)]
        print("ready", flush=True)
        until, delays = time.time() + seconds, []  # type: ignore[var-annotated]
        pushes = await asyncio.gather(*(watch(http, base, cookie, until, delays) for cookie in cookies))
    print(json.dumps({"delays_ms": [round(d, 3) for d in delays], "pushes": sum(pushes)}), flush=True)


# -- the site -----------------------------------------------------------------------------------
async def measure(lanes: int, rate: float, duration: float, clients: int | None) -> dict[str, Any]:
    """One run: the site with the console and ``clients`` browsers, or (``None``) without the console."""
    path = Path(tempfile.mkdtemp()) / "bench.toml"
    path.write_text(profile_text(lanes, rate, clients is not None))
    pm = make_manager(sorted(set(UNUSED) & available()))
    site = Site(load_profile(path, pm), pm)
    task = asyncio.create_task(site.run())
    proc = None
    try:
        await wait_for(lambda: task.done() or all(lane.state.value == "idle" for lane in site.lanes.values()), 60)
        if clients is not None:
            port = site.stash[gate_console.SERVER].console.port
            proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--client", str(port), str(clients), str(duration),
                stdout=asyncio.subprocess.PIPE)
            assert proc.stdout is not None
            async with asyncio.timeout(120):
                assert (await proc.stdout.readline()).strip() == b"ready"
        cpu0, wall0 = time.process_time(), time.monotonic()
        crossings0 = sum(lane.crossings for lane in site.lanes.values())
        await asyncio.sleep(duration)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        crossings = sum(lane.crossings for lane in site.lanes.values()) - crossings0
        result: dict[str, Any] = {"cpu_fraction": cpu / wall, "crossings_per_s": crossings / wall, "delays_ms": []}
        if proc is not None:
            assert proc.stdout is not None
            async with asyncio.timeout(60):
                seen = json.loads(await proc.stdout.read())
            result.update(delays_ms=seen["delays_ms"], pushes=seen["pushes"])
        return result
    finally:
        site.request_stop()
        await asyncio.wait_for(task, 30)
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind per rate; figures are medians")
    parser.add_argument("--clients", type=int, default=10, help="browsers")
    parser.add_argument("--lanes", type=int, default=16)
    parser.add_argument("--rates", default="10,160", help="crossings per second of the whole site; the first "
                        "is the headline (the issue's 10/s), the others are shown beside it")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--client", nargs=3, metavar=("PORT", "COUNT", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(browsers(int(args.client[0]), int(args.client[1]), float(args.client[2])))
        return
    os.environ.setdefault(PASSWORD_ENV, "bench-console-password")
    rows = []
    with open(os.devnull, "w") as sink:
        logs.configure("info", "json", sink)  # the JSON rendering is part of the cost, as in core_latency
        for rate in (float(r) for r in args.rates.split(",")):
            bare, served = [], []
            for _ in range(args.repeat):  # in turn: this machine's speed drifts
                bare.append(asyncio.run(measure(args.lanes, rate, args.duration, None)))
                served.append(asyncio.run(measure(args.lanes, rate, args.duration, args.clients)))
            rows.append(summarise(rate, bare, served))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "runs"}), file=sys.stderr)
    report(args, rows)


def summarise(rate: float, bare: list[dict[str, Any]], served: list[dict[str, Any]]) -> dict[str, Any]:
    delays = [d for run in served for d in run["delays_ms"]]
    extra = [s["cpu_fraction"] - b["cpu_fraction"] for b, s in zip(bare, served, strict=True)]
    return {"rate": rate, "cpu_fraction": round(statistics.median(extra), 4),
            "runs": [round(e, 4) for e in extra],
            "bare_cpu": round(statistics.median(b["cpu_fraction"] for b in bare), 4),
            "served_cpu": round(statistics.median(s["cpu_fraction"] for s in served), 4),
            "crossings_per_s": round(statistics.median(s["crossings_per_s"] for s in served), 1),
            "pushes": sum(s["pushes"] for s in served), "samples": len(delays),
            "p50": round(statistics.median(delays), 1) if delays else None,
            "p99": round(percentile(delays, 99), 1) if delays else None,
            "max": round(max(delays), 1) if delays else None}


def report(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    head = rows[0]
    table = "\n".join(
        f"| {r['rate']:g} ({r['crossings_per_s']:g} measured) | {r['bare_cpu'] * 100:.2f} % | "
        f"{r['served_cpu'] * 100:.2f} % | **{r['cpu_fraction'] * 100:.2f} %** "
        f"({', '.join(f'{x * 100:.2f}' for x in r['runs'])}) | {r['p50']} | **{r['p99']}** | {r['max']} | "
        f"{r['samples']} ({r['pushes']} pushes) |" for r in rows)
    for r in rows:
        print(f"{args.lanes} lanes at {r['rate']:g} crossings/s, {args.clients} browsers: extra CPU "
              f"{r['cpu_fraction'] * 100:.2f} % of a core; event to browser p50 {r['p50']} ms, p99 {r['p99']} ms")
    if not args.no_write:
        cmd = (f"python bench/console.py --duration {args.duration:g} --repeat {args.repeat} --clients {args.clients} "
               f"--lanes {args.lanes} --rates {args.rates}")
        write_section("console", cmd, f"""
{args.clients} browsers (aiohttp clients in a process of their own: logged in, page loaded, holding the
server-sent events stream) on a {args.lanes}-lane simulated site; CPU is the site process's, as a share
of one core, beside the same site without the console (medians of {args.repeat} runs of {args.duration:g} s
of each, in turn); the delay is from a record's own time (a decision, a lane's latest state change) to
its arrival at a browser, over every browser and run. Targets: extra CPU <= 5 % of a core, p99 <= 250 ms
(at 10 crossings/s; the other rate is the core_latency load, for scale). Pushes are at most one per
`push_interval_ms` (100 ms) to each browser.

| crossings/s (site) | CPU without console | CPU with console + browsers | extra CPU, median (runs) \
| delay p50 ms | delay p99 ms | delay max ms | delays timed |
| --- | --- | --- | --- | --- | --- | --- | --- |
{table}
""", keep_previous=True)
    print(json.dumps({"bench": "console", "clients": args.clients, "cpu_fraction": head["cpu_fraction"],
                      "event_to_browser_ms_p99": head["p99"]}))


if __name__ == "__main__":
    main()
