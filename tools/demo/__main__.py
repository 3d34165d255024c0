"""``python -m tools.demo [PROFILE] [--out var/demo] [--force]``: build the demo's assets (once; reused)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .build import build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__)
    parser.add_argument("profile", nargs="?", default="profiles/demo.toml")
    parser.add_argument("--out", default="var/demo", help="folder of the assets (default var/demo)")
    parser.add_argument("--force", action="store_true", help="build again even if up to date")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    built = build(Path(args.profile), Path(args.out), force=args.force)
    what = "built" if built else "up to date, reused"
    print(f"demo assets in {args.out}: {what} ({time.monotonic() - t0:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
