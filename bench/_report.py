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


def write_section(name: str, command: str, body: str) -> None:
    """Replace (or add) the section ``name`` of BENCHMARKS.md."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else HEADER
    section = (f"<!-- bench:{name} -->\n## {name}\n\nCommand: `{command}`  \nMachine: {machine()}\n\n"
               f"{body.strip()}\n<!-- /bench:{name} -->\n")
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->\n", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    BENCHMARKS.write_text(text)
