"""The commands of gate_ioc: ``gatecore outbox PROFILE [--replay SINCE] [--lane LANE]`` (what is waiting,
and re-sending) and ``gatecore ioc consume PROFILE`` (the reference IOC consumer, :mod:`.consumer`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from gatecore.api import EXIT_INVALID, Outbox, OutboxStatus, ProfileError, open_profile

from . import payloads
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


def load_section(path: str, section: str) -> tuple[IocSection, str] | None:
    """The ``[plugins.gate_ioc]`` section of a profile and its site id; None (said on stderr) if invalid."""
    try:
        profile, _ = open_profile(path)
    except ProfileError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return None
    cfg = profile.plugin_config(section)
    if not isinstance(cfg, IocSection):
        print(f"{path}: no [plugins.{section}] section", file=sys.stderr)
        return None
    return cfg, profile.site.id


def add_outbox_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], section: str) -> None:
    p = subparsers.add_parser("outbox", help="show the IOC outbox (pending per lane, oldest age); --replay re-sends")
    p.add_argument("profile")
    p.add_argument("--replay", metavar="SINCE", type=parse_since,
                   help="re-send delivered records created since SINCE (ISO 8601 time or age: 30m, 2h, 1d)")
    p.add_argument("--lane", help="only this lane (with --replay)")

    def command(args: argparse.Namespace) -> int:
        loaded = load_section(args.profile, section)
        if loaded is None:
            return EXIT_INVALID
        print(asyncio.run(run_outbox(loaded[0], args.replay, args.lane)))
        return 0

    p.set_defaults(func=command)


def add_ioc_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], section: str) -> None:
    ioc = subparsers.add_parser("ioc", help="the IOC's side of gate_ioc")
    sub = ioc.add_subparsers(dest="ioc_command", required=True)
    p = sub.add_parser("consume", help="a reference IOC consumer: the site's records as JSON lines, acknowledged "
                                       "once stored")
    p.add_argument("profile", help="the controller's profile (broker, site, topics)")
    p.add_argument("--out", default="-", help="file to append JSON lines to (default: stdout)")
    p.add_argument("--client-id", help="MQTT client id of the consumer's persistent session "
                                       "(default: gatecore-ioc-<site>)")

    def command(args: argparse.Namespace) -> int:
        from .consumer import Consumer, log  # paho-mqtt is an optional dependency
        from .reporter import mqtt_settings

        loaded = load_section(args.profile, section)
        if loaded is None:
            return EXIT_INVALID
        cfg, site = loaded
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
        settings = mqtt_settings(cfg, site, client_id=args.client_id or f"gatecore-ioc-{payloads.topic_segment(site)}")
        consumer = Consumer(settings, None if args.out == "-" else Path(args.out))
        asyncio.run(_until_signal(consumer.run()))
        log.info("ioc_consumer_stopped", stored=consumer.stored, duplicates=consumer.duplicates, gaps=consumer.gaps,
                 bad=consumer.bad)
        return 0

    p.set_defaults(func=command)


async def _until_signal(work: Any) -> None:
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
