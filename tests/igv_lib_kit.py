"""An independent VDA 5050 vehicle for the tests: vda-5050-lib (npm, MIT; Siemens' TypeScript implementation of
both sides of VDA 5050 1.1 and 2.0), its AGV controller with its virtual AGV adapter, run by
``tests/vda5050_lib/vehicle.js`` in a Node.js process on the broker. Installed into ``var/npm/`` by
``make npm-deps`` (``tests/vda5050_lib/install.sh``, pinned by its package-lock.json); the tests that need it
install it there if it is missing, and skip without Node.js."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from .igv_kit import NODES

HERE = Path(__file__).resolve().parent / "vda5050_lib"
MODULES = HERE.parent.parent / "var" / "npm" / "node_modules"
#: the virtual adapter's pick takes only its own load type (EPAL) at a floor station; one second's work
#: (and its drop)
PICK = 'stationType = "floor", loadType = "EPAL", duration = 1.0'
#: the virtual vehicle drives 2 m/s; this speeds its motion and actions up
TIME_LAPSE = 10


def installed() -> Path:
    """``var/npm/node_modules`` with vda-5050-lib in it (installed now if missing); skips without Node.js."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed (make system-deps npm-deps)")
    if not (MODULES / "vda-5050-lib" / "package.json").is_file():
        subprocess.run(["sh", str(HERE / "install.sh")], check=True, timeout=300)
    return MODULES


async def _ready(proc: asyncio.subprocess.Process, serial: str) -> None:
    assert proc.stdout is not None
    async with asyncio.timeout(20):
        line = await proc.stdout.readline()
    if line.strip() != b"ready":
        raise RuntimeError(f"vda-5050-lib vehicle {serial} did not start: {line!r}")


@contextlib.asynccontextmanager
async def lib_vehicles(port: int, vehicles: Sequence[tuple[str, str, str]],
                       interface: str = "uagv") -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """vda-5050-lib vehicles ``(manufacturer, serial, start node)`` on the broker at ``port``, each in its own
    Node.js process, at the start node's position; terminated (SIGTERM, then SIGKILL) on the way out."""
    env = {**os.environ, "NODE_PATH": str(installed())}
    procs: list[asyncio.subprocess.Process] = []
    try:
        for manufacturer, serial, start in vehicles:
            x, y = NODES[start]
            proc = await asyncio.create_subprocess_exec(
                "node", str(HERE / "vehicle.js"), f"mqtt://127.0.0.1:{port}", interface, manufacturer, serial, "yard",
                str(x), str(y), start, str(TIME_LAPSE), env=env, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE)
            procs.append(proc)
            await _ready(proc, serial)
        yield procs
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
