"""The yard as a graph: nodes with positions and allowed deviations, directed edges (two-way ones in both
directions) that some vehicle types may not use, named stations; shortest paths by length. And the checks
``gatecore check`` makes of it, each at the key that is wrong."""

from __future__ import annotations

import difflib
import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from .config import IgvSection, StationConfig, YardConfig
from .versions import VERSIONS, Param, Version

KeyPath = tuple[str | int, ...]
Problem = tuple[KeyPath, str]


@dataclass(frozen=True, slots=True)
class YardNode:
    id: str
    x: float
    y: float
    map_id: str
    deviation: float
    theta: float | None


@dataclass(frozen=True, slots=True)
class YardEdge:
    id: str
    start: str
    end: str
    length: float
    max_speed: float | None
    types: frozenset[str] | None  # None: every vehicle type

    def allows(self, vehicle_type: str | None) -> bool:
        return self.types is None or vehicle_type is None or vehicle_type in self.types


class Yard:
    def __init__(self, cfg: YardConfig) -> None:
        self.cfg = cfg
        self.nodes = {n.id: YardNode(n.id, n.x, n.y, n.map_id or cfg.map_id, n.deviation_m, n.theta) for n in cfg.nodes}
        self.edges: list[YardEdge] = []
        for e in cfg.edges:
            if e.start not in self.nodes or e.end not in self.nodes:
                continue
            types = frozenset(e.vehicle_types) or None
            a, b = self.nodes[e.start], self.nodes[e.end]
            length = round(math.hypot(b.x - a.x, b.y - a.y), 3)
            self.edges.append(YardEdge(e.id, e.start, e.end, length, e.max_speed, types))
            if e.two_way:
                self.edges.append(YardEdge(f"{e.id}.r", e.end, e.start, length, e.max_speed, types))
        self.out: dict[str, list[YardEdge]] = {n: [] for n in self.nodes}
        for edge in self.edges:
            self.out[edge.start].append(edge)
        self.stations: dict[str, StationConfig] = {k: s for k, s in cfg.stations.items() if s.node in self.nodes}
        self.path = lru_cache(maxsize=4096)(self._path)

    def station_node(self, name: str) -> YardNode:
        return self.nodes[self.stations[name].node]

    def _path(self, start: str, goal: str, vehicle_type: str | None = None) -> tuple[YardEdge, ...] | None:
        """The shortest path from ``start`` to ``goal`` for ``vehicle_type`` (``()`` when they are the same
        node), or ``None`` when there is none."""
        if start == goal:
            return ()
        best = {start: 0.0}
        came: dict[str, YardEdge] = {}
        queue = [(0.0, start)]
        while queue:
            dist, node = heapq.heappop(queue)
            if node == goal:
                edges = []
                while node != start:
                    edges.append(came[node])
                    node = came[node].start
                return tuple(reversed(edges))
            if dist > best[node]:
                continue
            for edge in self.out[node]:
                d = dist + edge.length
                if edge.allows(vehicle_type) and d < best.get(edge.end, math.inf):
                    best[edge.end], came[edge.end] = d, edge
                    heapq.heappush(queue, (d, edge.end))
        return None

    def distance(self, start: str, goal: str, vehicle_type: str | None = None) -> float:
        path = self.path(start, goal, vehicle_type)
        return math.inf if path is None else sum(e.length for e in path)

    def node_at(self, x: float, y: float, map_id: str) -> YardNode | None:
        """The node whose allowed deviation holds the point (the nearest if several)."""
        near = [(math.hypot(n.x - x, n.y - y), n.id) for n in self.nodes.values() if n.map_id == map_id]
        inside = [(d, i) for d, i in near if d <= self.nodes[i].deviation]
        return self.nodes[min(inside)[1]] if inside else None

    def nearest(self, x: float, y: float, map_id: str) -> tuple[YardNode, float] | None:
        near = [(math.hypot(n.x - x, n.y - y), n.id) for n in self.nodes.values() if n.map_id == map_id]
        if not near:
            return None
        d, node = min(near)
        return self.nodes[node], d


# -- checks -------------------------------------------------------------------------------------------

def versions_in_use(cfg: IgvSection) -> list[Version]:
    """The versions the fleet may speak: those its vehicles name, all when one names none."""
    vehicles = cfg.fleet + cfg.simulate
    if not vehicles or any(v.version is None for v in vehicles):
        return list(VERSIONS.values())
    return [VERSIONS[name] for name in sorted({v.version for v in vehicles if v.version is not None})]


def problems(cfg: IgvSection, lanes: Iterable[str]) -> list[Problem]:
    yard = Yard(cfg.yard)
    return [((("yard", *path)), message) for path, message in _graph_problems(cfg.yard)] \
        + [((("yard", "stations", name, *path)), message)
           for name, station in cfg.yard.stations.items()
           for path, message in _station_problems(yard, station, versions_in_use(cfg))] \
        + [(("yard", "stations", name, "node"), message) for name, message in _unreachable(yard)] \
        + _dispatch_problems(cfg, yard, set(lanes)) + _fleet_problems(cfg, yard)


def _graph_problems(cfg: YardConfig) -> list[Problem]:
    out: list[Problem] = []
    seen: set[str] = set()
    for i, node in enumerate(cfg.nodes):
        if node.id in seen:
            out.append((("nodes", i, "id"), f"duplicate node id {node.id!r}"))
        seen.add(node.id)
    edge_ids: set[str] = set()
    types = set(cfg.vehicle_types)
    for i, edge in enumerate(cfg.edges):
        for key in ("start", "end"):
            node = getattr(edge, key)
            if node not in seen:
                out.append((("edges", i, key), f"edge {edge.id!r}: no node {node!r}{_hint(node, seen)}"))
        if edge.start == edge.end:
            out.append((("edges", i, "end"), f"edge {edge.id!r} starts and ends at {edge.start!r}"))
        ids = [edge.id, f"{edge.id}.r"] if edge.two_way else [edge.id]
        if edge_ids & set(ids):
            out.append((("edges", i, "id"), f"duplicate edge id {edge.id!r}"))
        edge_ids.update(ids)
        for vtype in edge.vehicle_types:
            if vtype not in types:
                out.append((("edges", i, "vehicle_types"), f"no vehicle type {vtype!r} in yard.vehicle_types"))
    return out


def _station_problems(yard: Yard, station: StationConfig, versions: Sequence[Version]) -> list[Problem]:
    if station.node not in yard.nodes:
        return [(("node",), f"no node {station.node!r}{_hint(station.node, yard.nodes)}")]
    out: list[Problem] = []
    for j, action in enumerate(station.actions):
        for version in versions:
            spec = version.actions.get(action.type)
            if spec is None or "node" not in spec.scopes:
                usable = sorted(k for k, s in version.actions.items() if "node" in s.scopes)
                out.append((("actions", j, "type"), f"{action.type!r} is not a predefined VDA 5050 {version.full} "
                            f"action on a node{_hint(action.type, usable)}; those are: {', '.join(usable)}"))
                break
            if action.blocking not in version.blocking:
                out.append((("actions", j, "blocking"), f"blockingType {action.blocking!r} is not in VDA 5050 "
                            f"{version.full} ({', '.join(sorted(version.blocking))})"))
                break
            found = _parameter_problems(action.type, action.parameters, spec.params, version)
            if found:
                out += [(("actions", j, "parameters", *path), message) for path, message in found]
                break
    return out


def _parameter_problems(action: str, values: Mapping[str, object], specs: Mapping[str, Param],
                        version: Version) -> list[Problem]:
    out: list[Problem] = []
    for key in sorted(k for k, p in specs.items() if p.required and k not in values):
        out.append(((), f"{action} in VDA 5050 {version.full} needs parameter {key!r}"))
    for key, value in values.items():
        spec = specs.get(key)
        if spec is None:
            close = difflib.get_close_matches(key, list(specs), n=1, cutoff=0.75)
            if close:  # a vendor may add parameters (section 6.8 of 2.1), but not misspell the standard's
                out.append(((key,), f"{key!r} is not a parameter of {action} (did you mean {close[0]!r}?)"))
            continue
        if not _fits(spec, value):
            article = "an" if spec.type == "array" else "a"
            out.append(((key,), f"parameter {key!r} of {action} in VDA 5050 {version.full} is {article} {spec.type}"))
    return out


def _fits(spec: Param, value: object) -> bool:
    if spec.type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if spec.type == "array":
        return isinstance(value, list)
    return isinstance(value, str)


def _unreachable(yard: Yard) -> list[tuple[str, str]]:
    """The stations outside the largest group of stations that can all reach each other, and why."""
    names = list(yard.stations)

    def reaches(a: str, b: str) -> bool:
        return yard.path(yard.stations[a].node, yard.stations[b].node) is not None

    groups = [{b for b in names if b == a or (reaches(a, b) and reaches(b, a))} for a in names]
    main = max(groups, key=len, default=set())
    if not main:
        return []
    anchor = min(main)
    out = []
    for name in names:
        if name in main:
            continue
        node = yard.stations[name].node
        why = (f"cannot be reached from station {anchor!r}" if not reaches(anchor, name)
               else f"has no way back to station {anchor!r}")
        out.append((name, f"station {name!r} (node {node!r}) {why}"))
    return out


def _dispatch_problems(cfg: IgvSection, yard: Yard, lanes: set[str]) -> list[Problem]:
    out: list[Problem] = []
    seen: set[str] = set()
    for i, rule in enumerate(cfg.dispatch):
        at: KeyPath = ("dispatch", i)
        if rule.lane not in lanes:
            out.append(((*at, "lane"), f"no lane {rule.lane!r}{_hint(rule.lane, lanes)}"))
        if rule.lane in seen:
            out.append(((*at, "lane"), f"a second dispatch rule for lane {rule.lane!r}"))
        seen.add(rule.lane)
        if rule.vehicle_type is not None and rule.vehicle_type not in cfg.yard.vehicle_types:
            out.append(((*at, "vehicle_type"), f"no vehicle type {rule.vehicle_type!r} in yard.vehicle_types"))
        missing = [s for s in rule.stops if s not in yard.stations]
        if missing:
            out.append(((*at, "stops"), f"no station {missing[0]!r}{_hint(missing[0], yard.stations)}"))
            continue
        for a, b in zip(rule.stops, rule.stops[1:], strict=False):
            if yard.path(yard.stations[a].node, yard.stations[b].node, rule.vehicle_type) is None:
                out.append(((*at, "stops"), f"station {b!r} cannot be reached from {a!r}"
                            + (f" by vehicle type {rule.vehicle_type!r}" if rule.vehicle_type else "")))
    return out


def _fleet_problems(cfg: IgvSection, yard: Yard) -> list[Problem]:
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for key, vehicles in (("fleet", cfg.fleet), ("simulate", cfg.simulate)):
        for i, v in enumerate(vehicles):
            if (v.manufacturer, v.serial) in seen:
                out.append(((key, i, "serial"), f"vehicle {v.manufacturer}/{v.serial} is listed twice"))
            seen.add((v.manufacturer, v.serial))
            if v.type not in cfg.yard.vehicle_types:
                out.append(((key, i, "type"), f"no vehicle type {v.type!r} in yard.vehicle_types"))
    for i, node in enumerate(cfg.sim_start):
        if node not in yard.nodes:
            out.append((("sim_start", i), f"no node {node!r}{_hint(node, yard.nodes)}"))
    return out


def _hint(value: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
