"""A trip's route as an order: the nodes and edges from where the vehicle is to each stop, with every
station's actions at its stop, numbered as VDA 5050 numbers them (node i has sequenceId 2i, the edge after
it 2i+1), and cut into the orders that release it bit by bit: the first, and the updates that stitch onto
the decision point, release ``base`` more nodes and announce ``horizon`` nodes beyond."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .config import ActionConfig
from .wire import Action, Edge, Node, Order
from .yard import Yard, YardEdge, YardNode


@dataclass(frozen=True, slots=True)
class Plan:
    nodes: tuple[Node, ...]  # every node of the route, each with its actions (released set per order)
    edges: tuple[Edge, ...]
    stops: tuple[int, ...]  # index of each stop's node
    base: int
    horizon: int

    @property
    def last(self) -> Node:
        return self.nodes[-1]

    @property
    def action_ids(self) -> tuple[str, ...]:
        return tuple(a.id for n in self.nodes for a in n.actions)

    def first_released(self) -> int:
        return min(len(self.nodes) - 1, self.base)

    def order(self, order_id: str, update_id: int, start: int, released: int) -> Order:
        """The order (``update_id`` 0) or update from node ``start`` (the decision point) releasing up to
        node ``released`` and announcing the horizon after it."""
        end = min(len(self.nodes) - 1, released + self.horizon)
        nodes = tuple(replace(n, released=i <= released) for i, n in enumerate(self.nodes) if start <= i <= end)
        edges = tuple(replace(e, released=i < released) for i, e in enumerate(self.edges) if start <= i < end)
        return Order(order_id, update_id, nodes, edges)


def _node(n: YardNode, seq: int, actions: tuple[Action, ...] = ()) -> Node:
    return Node(n.id, seq, True, n.x, n.y, n.map_id, n.deviation, n.theta, actions)


def _actions(order_id: str, seq: int, configs: Sequence[ActionConfig]) -> tuple[Action, ...]:
    return tuple(Action(a.type, f"{order_id}-{seq}-{j}", a.blocking, tuple(a.parameters.items()))
                 for j, a in enumerate(configs))


def plan(yard: Yard, order_id: str, start: str, stops: Sequence[str], vehicle_type: str | None,
         here: tuple[float, float, str] | None, base: int, horizon: int) -> Plan | None:
    """The route from node ``start`` through the stations ``stops``; with ``here`` (the vehicle's position
    off the graph) it begins at a temporary node there, with an edge to ``start``. ``None`` if a stop
    cannot be reached."""
    legs: list[tuple[YardEdge, ...]] = []
    at = start
    for name in stops:
        path = yard.path(at, yard.stations[name].node, vehicle_type)
        if path is None:
            return None
        legs.append(path)
        at = yard.stations[name].node
    nodes: list[Node] = []
    edges: list[Edge] = []
    if here is not None:
        x, y, map_id = here
        nodes.append(Node(f"{order_id}.start", 0, True, x, y, map_id, 0.5))
        s = yard.nodes[start]
        edges.append(Edge(f"{order_id}.join", 1, True, nodes[0].id, start,
                          round(((s.x - x) ** 2 + (s.y - y) ** 2) ** 0.5, 3)))
    nodes.append(_node(yard.nodes[start], 2 * len(nodes)))
    stop_at: list[int] = []
    for name, leg in zip(stops, legs, strict=True):
        for edge in leg:
            seq = 2 * len(nodes)
            edges.append(Edge(edge.id, seq - 1, True, edge.start, edge.end, edge.length, edge.max_speed))
            nodes.append(_node(yard.nodes[edge.end], seq))
        i = len(nodes) - 1
        nodes[i] = replace(nodes[i], actions=nodes[i].actions + _actions(order_id, nodes[i].seq,
                                                                          yard.stations[name].actions))
        stop_at.append(i)
    return Plan(tuple(nodes), tuple(edges), tuple(stop_at), base, horizon)
