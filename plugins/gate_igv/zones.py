"""VDA 5050 3.0 zones: the profile's zone set goes to each 3.0 vehicle of the fleet (``zoneSet``, then
``enableZoneSet``), and the vehicles' requests in ``state`` are answered on ``responses``.

A RELEASE zone (the single-lane span of the bridge, say) is held by one vehicle at a time: its request is
GRANTED with a ``leaseExpiry`` ``lease_s`` ahead, renewed while the vehicle still reports it GRANTED; the
others are QUEUED, in the order they asked, and GRANTED in turn once the holder has dropped its request (or
let its lease run out). A request for a zone the set does not have is REJECTED; other zone types, and
corridor requests (``edgeRequests``), are GRANTED with a lease. A vehicle that stops being ours (handed
over) has its grants REVOKED.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, model_validator

from gatecore.api import ConfigModel

from .client import VehicleId, timestamp
from .versions import Version

#: The zone types this fleet control sets up (ACTION, PRIORITY, PENALTY, DIRECTED and BIDIRECTED zones need
#: parameters it has no use for at the bridge).
ZoneType = Literal["BLOCKED", "LINE_GUIDED", "RELEASE", "COORDINATED_REPLANNING", "SPEED_LIMIT"]


class ZoneConfig(ConfigModel):
    id: str = Field(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")
    type: ZoneType
    vertices: tuple[tuple[float, float], ...] = Field(min_length=3, description="[x, y] counterclockwise, m")
    release_loss: Literal["STOP", "CONTINUE", "EVACUATE"] = Field("STOP", description="RELEASE: what a vehicle "
                                                                   "in the zone does when its grant is lost")
    maximum_speed: float | None = Field(None, gt=0, le=30, description="SPEED_LIMIT: m/s")

    @model_validator(mode="after")
    def _speed(self) -> ZoneConfig:
        if self.type == "SPEED_LIMIT" and self.maximum_speed is None:
            raise ValueError("a SPEED_LIMIT zone needs maximum_speed")
        return self


class ZonesConfig(ConfigModel):
    """A zone set for the 3.0 vehicles (section 6.4 of VDA 5050 3.0)."""

    zone_set_id: str = Field(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$", description="never reused for other content")
    lease_s: float = Field(30.0, gt=0, le=3600, description="how long a grant holds unless renewed")
    zones: tuple[ZoneConfig, ...] = Field(min_length=1)


def _zone(z: ZoneConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"zoneId": z.id, "zoneType": z.type, "vertices": [{"x": x, "y": y} for x, y in z.vertices]}
    if z.type == "RELEASE":
        out["releaseLossBehavior"] = z.release_loss
    if z.type == "SPEED_LIMIT":
        out["maximumSpeed"] = z.maximum_speed
    return out


def zone_set_body(cfg: ZonesConfig, map_id: str) -> dict[str, Any]:
    return {"zoneSet": {"mapId": map_id, "zoneSetId": cfg.zone_set_id, "zones": [_zone(z) for z in cfg.zones]}}


Answer = tuple[str, str, str | None]  # requestId, grantType, leaseExpiry


@dataclass
class _Grant:
    vehicle: VehicleId
    request: str
    until: float


@dataclass
class Zones:
    """The answers to every vehicle's requests; :meth:`answer` says what to send to one vehicle now."""

    cfg: ZonesConfig
    holders: dict[str, _Grant] = field(default_factory=dict)  # RELEASE zone id -> its grant
    queued: dict[str, list[tuple[VehicleId, str]]] = field(default_factory=dict)
    sent: dict[tuple[VehicleId, str], tuple[str, float]] = field(default_factory=dict)  # -> (grant, lease until)

    def __post_init__(self) -> None:
        self.types = {z.id: z.type for z in self.cfg.zones}

    def answer(self, vehicle: VehicleId, version: Version, zone_requests: Sequence[Mapping[str, Any]],
               edge_requests: Sequence[Mapping[str, Any]], now: float | None = None) -> list[Answer]:
        now = time.time() if now is None else now
        self._forget(vehicle, {str(r["requestId"]) for r in (*zone_requests, *edge_requests)}, now)
        out = [self._zone(vehicle, r, now) for r in zone_requests]
        out += [self._lease(vehicle, str(r["requestId"]), now) for r in edge_requests]
        return [(rid, grant, timestamp(version, until) if grant == "GRANTED" else None)
                for rid, grant, until in (a for a in out if a is not None)]

    def revoke(self, vehicle: VehicleId) -> list[Answer]:
        """Everything ``vehicle`` holds, REVOKED (it is no longer this side's)."""
        out: list[Answer] = [(g.request, "REVOKED", None) for g in self.holders.values() if g.vehicle == vehicle]
        self.holders = {z: g for z, g in self.holders.items() if g.vehicle != vehicle}
        for waiting in self.queued.values():
            waiting[:] = [w for w in waiting if w[0] != vehicle]
        return out

    def _zone(self, vehicle: VehicleId, r: Mapping[str, Any], now: float) -> tuple[str, str, float] | None:
        rid, zone = str(r["requestId"]), str(r["zoneId"])
        if r.get("zoneSetId") != self.cfg.zone_set_id or zone not in self.types:
            return self._once(vehicle, rid, "REJECTED", 0.0)
        if self.types[zone] != "RELEASE":
            return self._lease(vehicle, rid, now)
        holder = self.holders.get(zone)
        if holder is not None and holder.until < now:  # its lease ran out without a renewal
            del self.holders[zone]
            holder = None
        waiting = self.queued.setdefault(zone, [])
        if holder is None and (not waiting or waiting[0] == (vehicle, rid)):
            if waiting and waiting[0] == (vehicle, rid):
                waiting.pop(0)
            self.holders[zone] = _Grant(vehicle, rid, now + self.cfg.lease_s)
            return self._lease(vehicle, rid, now)
        if holder is not None and (holder.vehicle, holder.request) == (vehicle, rid):
            answer = self._lease(vehicle, rid, now)
            holder.until = self.sent[(vehicle, rid)][1]
            return answer
        if (vehicle, rid) not in waiting:
            waiting.append((vehicle, rid))
        return self._once(vehicle, rid, "QUEUED", 0.0)

    def _lease(self, vehicle: VehicleId, rid: str, now: float) -> tuple[str, str, float] | None:
        """GRANTED, or GRANTED again once half the lease has passed (a renewal)."""
        last = self.sent.get((vehicle, rid))
        if last is not None and last[0] == "GRANTED" and last[1] - now > self.cfg.lease_s / 2:
            return None
        self.sent[(vehicle, rid)] = ("GRANTED", now + self.cfg.lease_s)
        return rid, "GRANTED", now + self.cfg.lease_s

    def _once(self, vehicle: VehicleId, rid: str, grant: str, until: float) -> tuple[str, str, float] | None:
        if self.sent.get((vehicle, rid), ("", 0.0))[0] == grant:
            return None
        self.sent[(vehicle, rid)] = (grant, until)
        return rid, grant, until

    def _forget(self, vehicle: VehicleId, live: set[str], now: float) -> None:
        """Requests ``vehicle`` no longer reports are done: their zones are free, their answers forgotten."""
        for zone, grant in list(self.holders.items()):
            if grant.vehicle == vehicle and grant.request not in live:
                del self.holders[zone]
        for waiting in self.queued.values():
            waiting[:] = [w for w in waiting if w[0] != vehicle or w[1] in live]
        for key in [k for k in self.sent if k[0] == vehicle and k[1] not in live]:
            del self.sent[key]
