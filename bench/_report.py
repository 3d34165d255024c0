"""Shared by the bench scripts: write one section of BENCHMARKS.md, keeping the others."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = ("# Benchmarks\n\nFigures written by the scripts in `bench/`; "
          "each section names the command that produced it.\n")


def machine() -> str:
    cpus = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip() or "?"
    return f"{platform.machine()}, {cpus} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}"


def write_section(name: str, command: str, body: str, keep_previous: bool = False) -> None:
    """Replace (or add) the section ``name`` of BENCHMARKS.md; with ``keep_previous``, the run it replaces
    stays below the new one (one run back) so that the two can be compared."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->\n", re.S)
    previous = ""
    if keep_previous and (found := pattern.search(text)):
        old = found.group(0).split("\n", 2)[2].rsplit("<!-- /bench:", 1)[0].split("\n### Previous run")[0]
        previous = "\n\n### Previous run\n" + old.strip()
    section = (f"<!-- bench:{name} -->\n## {name}\n\nCommand: `{command}`  \nMachine: {machine()}\n\n"
               f"{body.strip()}{previous}\n<!-- /bench:{name} -->\n")
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    BENCHMARKS.write_text(text)
