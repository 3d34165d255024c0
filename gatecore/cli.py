"""``gatecore run | check | plugins | schema`` and the sub-commands plugins add."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import pluggy

from gatecore import __version__, logs
from gatecore.plugins import PluginError, describe, make_manager
from gatecore.profile import (
    MAX_PROFILE_BYTES,
    Profile,
    ProfileError,
    ReadLimits,
    disabled_plugins,
    read_profile,
    validate_profile,
)
from gatecore.profile_models import build_models
from gatecore.site import Site, SiteError

EXIT_INVALID = 2


def manager_for(path: str, limits: ReadLimits | None = None) -> pluggy.PluginManager:
    """The plugin manager a profile asks for (its ``[plugins] disable`` list applied)."""
    try:
        raw, _ = read_profile(path, limits)
    except ProfileError:
        return make_manager()
    return make_manager(disabled_plugins(raw))


def load(path: str, limits: ReadLimits | None = None) -> tuple[Profile, pluggy.PluginManager]:
    """The validated profile and the plugin manager it asks for; the files are read once."""
    raw, origins = read_profile(path, limits)
    pm = make_manager(disabled_plugins(raw))
    return validate_profile(path, raw, origins, pm), pm


def reading_limits(args: argparse.Namespace) -> ReadLimits:
    """The bounds the command line sets on reading a profile."""
    return ReadLimits(max_bytes=args.max_profile_bytes, include_dirs=tuple(args.include_dir))


def _loaded(args: argparse.Namespace, out: TextIO, tally: bool = False) -> tuple[Profile, pluggy.PluginManager] | None:
    """The profile the command line names, or ``None`` once its problems are printed to ``out`` (with
    ``tally``, also how many, to stderr)."""
    try:
        return load(args.profile, reading_limits(args))
    except ProfileError as exc:
        for issue in exc.issues:
            print(issue, file=out)
        if tally:
            print(f"{args.profile}: {len(exc.issues)} error(s)", file=sys.stderr)
    except PluginError as exc:
        print(f"{args.profile}:1:1: plugins: {exc}", file=out)
    return None


def cmd_check(args: argparse.Namespace) -> int:
    if (loaded := _loaded(args, sys.stdout, tally=True)) is None:
        return EXIT_INVALID
    lanes = loaded[0].lanes
    print(f"{args.profile}: ok ({len(lanes)} lanes, {sum(len(lane.devices) for lane in lanes)} devices)",
          file=sys.stderr)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    if (loaded := _loaded(args, sys.stderr)) is None:
        return EXIT_INVALID
    profile, pm = loaded
    logs.configure(args.log_level or profile.logging.level, args.log_format or profile.logging.format)
    try:
        site = asyncio.run(_run(profile, pm, args))
    except SiteError as exc:
        print(f"{args.profile}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    summary = site.summary()
    print(_human(summary), file=sys.stderr)
    for key in summary.keys() - CORE_SUMMARY:  # the plugins' parts (gatecore_summary), one line each
        print(f"{key}: {json.dumps(summary[key], ensure_ascii=False)}", file=sys.stderr)
    print(json.dumps(summary), flush=True)
    return 0


async def _run(profile: Profile, pm: pluggy.PluginManager, args: argparse.Namespace) -> Site:
    site = Site(profile, pm)  # in the loop: a device may bind to it when it is made (a Modbus client does)
    await site.run(crossings=args.crossings, duration=args.duration)
    return site


#: the keys of the summary the core itself gives (the rest are the plugins')
CORE_SUMMARY = frozenset({"site", "stopped", "decisions", "crossings_completed", "faults", "lanes_not_built",
                          "decision_p50_ms", "decision_p99_ms", "seconds"})


def _human(s: dict[str, Any]) -> str:
    outcomes = ", ".join(f"{k} {v}" for k, v in s["decisions"].items())
    broken = f"; lanes not built: {', '.join(s['lanes_not_built'])}" if s["lanes_not_built"] else ""
    return (f"site {s['site']} ran {s['seconds']:.1f}s (stopped: {s['stopped']}); decisions made: {outcomes}; "
            f"crossings completed: {s['crossings_completed']}; lane faults: {s['faults']}{broken}; "
            f"trigger-to-decision p50 {s['decision_p50_ms']:.2f} ms, p99 {s['decision_p99_ms']:.2f} ms")


def cmd_plugins(args: argparse.Namespace) -> int:
    pm = manager_for(args.profile) if args.profile else make_manager()
    for info in describe(pm):
        print(f"{info.name} {info.version} ({info.origin})")
        for hook in info.hooks:
            print(f"    {hook}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    models = build_models(make_manager())
    print(json.dumps(models.root.model_json_schema(), indent=2))
    return 0


def parser(pm: pluggy.PluginManager | None = None) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="gatecore", description="smart border gate controller")
    top.add_argument("--version", action="version", version=f"gatecore {__version__}")
    sub = top.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a site from a profile")
    run.add_argument("profile")
    run.add_argument("--crossings", type=int, help="stop after N completed crossings")
    run.add_argument("--duration", type=float, help="stop after S seconds")
    run.add_argument("--log-format", choices=["auto", "json", "console"])
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check", help="validate a profile without starting hardware")
    check.add_argument("profile")
    check.set_defaults(func=cmd_check)
    for command in (run, check):
        _reading_options(command)
    plugins = sub.add_parser("plugins", help="list plugins, versions and hooks")
    plugins.add_argument("profile", nargs="?")
    plugins.set_defaults(func=cmd_plugins)
    schema = sub.add_parser("schema", help="print the JSON Schema of profiles (for editors)")
    schema.set_defaults(func=cmd_schema)
    (pm or make_manager()).hook.gatecore_add_commands(subparsers=sub)
    return top


def _reading_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--max-profile-bytes", type=_positive, default=MAX_PROFILE_BYTES, metavar="N",
                         help=f"refuse a profile larger than N bytes with its includes (default {MAX_PROFILE_BYTES})")
    command.add_argument("--include-dir", type=Path, action="append", default=[], metavar="DIR",
                         help="a directory includes may also come from (besides the profile's own); repeatable")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of bytes above 0")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
