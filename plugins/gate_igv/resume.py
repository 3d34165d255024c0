"""A trip under way in the journal (:mod:`gate_igv.journal`) and back: what a restarted controller needs to
follow the same vehicle on the same order from the update it sent last, or, if the trip had no vehicle
yet, to go on looking for one. The trip records are not written again: the trip was requested (and
dispatched) before the restart, and is completed, handed over or failed once, after it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .client import VehicleId
from .config import DispatchRule
from .trips import Attempt, Trip


def entry(trip: Trip, attempt: Attempt | None) -> dict[str, Any]:
    """The journal's entry of ``trip``, with the attempt under way if there is one."""
    body: dict[str, Any] = {"trip": trip.id, "lane": trip.lane, "txn": trip.txn, "t_wall": trip.t_wall,
                            "attempt": trip.attempt, "tried": sorted(str(v) for v in trip.tried), "run": None}
    if attempt is not None:
        start, here = attempt.origin
        body["run"] = {"vehicle": str(attempt.vehicle.id), "order": attempt.order_id, "start": start,
                       "here": list(here) if here is not None else None, **attempt.saved()}
    return body


def restore(body: Mapping[str, Any], rules: Mapping[str, DispatchRule], t_now: float,
            perf_now: float) -> Trip | None:
    """The trip of a journal entry, its clocks counted from when it was requested; ``None`` if its lane
    has no dispatch rule any more (the caller fails it)."""
    rule = rules.get(str(body["lane"]))
    if rule is None:
        return None
    trip = Trip(str(body["trip"]), rule.lane, body.get("txn"), rule, t0=perf_now - max(0.0, t_now - body["t_wall"]),
                t_wall=float(body["t_wall"]), attempt=int(body["attempt"]))
    trip.tried = {VehicleId.parse(v) for v in body.get("tried", ())}
    trip.resume = dict(body["run"]) if body.get("run") else None
    return trip


def origin(run: Mapping[str, Any]) -> tuple[str, tuple[float, float, str] | None]:
    here = run.get("here")
    return str(run["start"]), (float(here[0]), float(here[1]), str(here[2])) if here else None


__all__ = ["entry", "origin", "restore"]
