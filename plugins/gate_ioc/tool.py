"""``gatecore outbox PROFILE [--replay SINCE] [--lane LANE]``: what is waiting, and re-sending."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from datetime import datetime

from gatecore.api import Outbox, OutboxStatus

from .config import IocSection

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """``SINCE`` as epoch seconds: an ISO 8601 time (``2026-11-27T18:00:00Z``) or an age (``90s``, ``2h``)."""
    now = time.time() if now is None else now
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an ISO 8601 time or an age like 30m, 2h, 1d") from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give a time zone (e.g. a trailing Z for UTC)")
    return when.timestamp()


def render(status: OutboxStatus, now: float) -> str:
    lines = [f"{'lane':<24} {'pending':>8} {'oldest':>10}"]
    for b in status.lanes:
        lines.append(f"{b.lane:<24} {b.pending:>8} {now - b.oldest_created:>9.1f}s")
    lines.append(f"pending {status.pending}, delivered kept {status.delivered_kept}, dropped telemetry "
                 f"{status.dropped}, {status.bytes / 1e6:.2f} of {status.budget_bytes / 1e6:.2f} MB")
    return "\n".join(lines)


async def run_outbox(section: IocSection, replay: float | None, lane: str | None) -> str:
    async with Outbox(section.outbox.path, budget_bytes=int(section.outbox.budget_mb * 1024 * 1024)) as box:
        out = []
        if replay is not None:
            n = await box.replay(replay, lane)
            out.append(f"marked {n} delivered record(s) for re-sending (created since "
                       f"{datetime.fromtimestamp(replay).astimezone().isoformat(timespec='seconds')})")
        out.append(render(await box.status(), time.time()))
        return "\n".join(out)


def add_outbox_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], section: str) -> None:
    p = subparsers.add_parser("outbox", help="show the IOC outbox (pending per lane, oldest age); --replay re-sends")
    p.add_argument("profile")
    p.add_argument("--replay", metavar="SINCE", type=parse_since,
                   help="re-send delivered records created since SINCE (ISO 8601 time or age: 30m, 2h, 1d)")
    p.add_argument("--lane", help="only this lane (with --replay)")

    def command(args: argparse.Namespace) -> int:
        from gatecore.api import EXIT_INVALID, ProfileError
        from gatecore.api import open_profile as load

        try:
            profile, _ = load(args.profile)
        except ProfileError as exc:
            for issue in exc.issues:
                print(issue, file=sys.stderr)
            return EXIT_INVALID
        cfg = profile.plugin_config(section)
        if not isinstance(cfg, IocSection):
            print(f"{args.profile}: no [plugins.{section}] section", file=sys.stderr)
            return EXIT_INVALID
        print(asyncio.run(run_outbox(cfg, args.replay, args.lane)))
        return 0

    p.set_defaults(func=command)
