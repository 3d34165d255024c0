"""``gatecore igv graph PROFILE`` and ``gatecore igv trips PROFILE --count N [--broker URL] [--vehicle M/S]...``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from gatecore.api import EXIT_INVALID, ProfileError, open_profile

from .client import VehicleId
from .config import IgvSection, RecordsConfig, VehicleConfig
from .control import FleetControl
from .plugin import NAME, simulated_fleet
from .schemas import SchemaError
from .yard import Yard


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    igv = subparsers.add_parser("igv", help="IGV fleet control (VDA 5050): the yard graph, test trips")
    sub = igv.add_subparsers(dest="igv_command", required=True)
    graph = sub.add_parser("graph", help="print the yard graph as one JSON object")
    graph.add_argument("profile")
    graph.set_defaults(func=cmd_graph)
    trips = sub.add_parser("trips", help="run N trips between the profile's stations and print what came of them")
    trips.add_argument("profile")
    trips.add_argument("--count", type=int, required=True, metavar="N")
    trips.add_argument("--broker", metavar="mqtt://HOST:PORT", help="the fleet broker (default: the profile's)")
    trips.add_argument("--vehicle", action="append", default=[], metavar="MANUFACTURER/SERIAL",
                       help="a vehicle to use instead of the profile's fleet (repeatable)")
    trips.set_defaults(func=cmd_trips)


def _section(path: str) -> tuple[str, IgvSection] | None:
    try:
        profile, _ = open_profile(path)
    except ProfileError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return None
    cfg = profile.plugin_config(NAME)
    if not isinstance(cfg, IgvSection):
        print(f"{path}: no [plugins.{NAME}] section", file=sys.stderr)
        return None
    return profile.site.id, cfg


def cmd_graph(args: argparse.Namespace) -> int:
    found = _section(args.profile)
    if found is None:
        return EXIT_INVALID
    _, cfg = found
    yard = Yard(cfg.yard)
    print(json.dumps({"interface_name": cfg.interface_name, "map_id": cfg.yard.map_id,
                      "nodes": [{"id": n.id, "x": n.x, "y": n.y} for n in yard.nodes.values()],
                      "stations": {name: s.node for name, s in cfg.yard.stations.items()}}))
    return 0


def cmd_trips(args: argparse.Namespace) -> int:
    found = _section(args.profile)
    if found is None:
        return EXIT_INVALID
    site_id, cfg = found
    if not cfg.dispatch:
        print(f"{args.profile}: no [[plugins.{NAME}.dispatch]] rule: no stations to run trips between",
              file=sys.stderr)
        return EXIT_INVALID
    try:
        vehicles = [VehicleId.parse(text) for text in args.vehicle]
    except ValueError as exc:
        print(f"--vehicle: {exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        result = asyncio.run(_trips(site_id, cfg, args.count, args.broker, vehicles))
    except SchemaError as exc:
        print(f"{args.profile}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(json.dumps(result), flush=True)
    return 0


async def _trips(site_id: str, cfg: IgvSection, count: int, broker: str | None,
                 vehicles: list[VehicleId]) -> dict[str, Any]:
    update: dict[str, Any] = {}
    if broker is not None:
        update.update(transport="mqtt", broker=broker)
    if vehicles:
        update.update(fleet=tuple(VehicleConfig(manufacturer=v.manufacturer, serial=v.serial) for v in vehicles),
                      simulate=())
    with tempfile.TemporaryDirectory(prefix="gatecore-igv-") as tmp:
        update["records"] = RecordsConfig(path=str(Path(tmp) / "outbox.sqlite"),
                                          local_path=str(Path(tmp) / "trips.jsonl"))
        run_cfg = IgvSection.model_validate({**cfg.model_dump(), **update})
        fleet = FleetControl(run_cfg, site_id)
        fleet.extra += [sim.run for sim in simulated_fleet(run_cfg, fleet)]
        serving = asyncio.create_task(fleet.serve())
        try:
            await _run(fleet, run_cfg, count, max(1, len(run_cfg.fleet) + len(run_cfg.simulate)))
        finally:
            fleet.stop()
            await asyncio.wait_for(serving, 10)
    return {"trips": count, "completed": fleet.counts["completed"], "failed": fleet.counts["failed"],
            "invalid_messages": fleet.client.invalid}


async def _run(fleet: FleetControl, cfg: IgvSection, count: int, at_once: int) -> None:
    """``count`` trips, the dispatch rules in turn, at most ``at_once`` under way."""
    limit = asyncio.Semaphore(at_once)

    async def one(i: int) -> None:
        async with limit:
            trip = await fleet.submit(cfg.dispatch[i % len(cfg.dispatch)].lane, None)
            if trip is not None:
                await trip.done.wait()

    await asyncio.gather(*(one(i) for i in range(count)))
