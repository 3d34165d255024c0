"""The one layer that speaks VDA 5050 on the wire, for either side (the fleet control or a vehicle): it owns
the topics (``interfaceName/majorVersion/manufacturer/serialNumber/topic``), the header (ids counted per
topic, timestamps to each version's precision, version, manufacturer, serial number), the QoS and retain
flags each version asks for, and validation of every message against the official schema of its version -
before it is sent (a message that fails is a bug: :class:`InvalidOutgoing`) and when it arrives (a message
that fails is rejected with a counted reason, and the others go on). The logic above it never builds a
topic or a header.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import structlog

from .bus import Bus
from .schemas import Schemas
from .versions import Version, version_of

log = structlog.get_logger("gate_igv")

Role = Literal["master", "vehicle"]
#: The topics each side publishes (the other side subscribes to them).
PUBLISHES: Mapping[Role, frozenset[str]] = {
    "master": frozenset({"order", "instantActions", "responses", "zoneSet"}),
    "vehicle": frozenset({"state", "connection", "factsheet", "visualization"}),
}
#: The topics the fleet control follows (``visualization`` is for visualisation systems).
FOLLOWS = ("state", "connection", "factsheet")
#: Retained topics (``connection`` in every version; ``factsheet`` too in 2.1 and 3.0).
RETAINED = frozenset({"connection", "factsheet"})
#: Why an incoming message is rejected (counted in :attr:`Vda5050Client.rejected`).
REASONS = ("not_json", "unknown_topic", "wrong_version", "header_mismatch", "schema")


@dataclass(frozen=True, slots=True, order=True)
class VehicleId:
    manufacturer: str
    serial: str

    def __str__(self) -> str:
        return f"{self.manufacturer}/{self.serial}"

    @classmethod
    def parse(cls, text: str) -> VehicleId:
        manufacturer, sep, serial = text.partition("/")
        if not sep or not manufacturer or not serial or "/" in serial:
            raise ValueError(f"expected MANUFACTURER/SERIAL, not {text!r}")
        return cls(manufacturer, serial)


@dataclass(frozen=True, slots=True)
class Incoming:
    vehicle: VehicleId
    version: Version
    topic: str
    body: Mapping[str, Any]


class InvalidOutgoing(Exception):
    """A message this side made fails its schema: a bug, never sent."""


def timestamp(version: Version, now: float | None = None) -> str:
    """``YYYY-MM-DDTHH:mm:ss.ffZ`` (2.x) or ``...ss.fffZ`` (3.0), UTC."""
    t = time.time() if now is None else now
    whole = int(t)
    digits = version.timestamp_digits
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 10 ** digits):0{digits}d}Z"


#: Header ids a client reserves ahead (``reserve``): one durable write per this many messages of a topic.
HEADER_BLOCK = 1000
Reserve = Callable[["VehicleId", str, int], Awaitable[None]]


class Vda5050Client:
    """One side of VDA 5050 over a :class:`Bus`. ``handler`` gets each valid incoming message;
    ``expected(vehicle)`` is the version a vehicle is known to speak (``None``: whatever valid version its
    messages carry).

    The standard counts a topic's header ids up by one with each message sent. So that they keep rising
    over a restart, a client with ``reserve`` sends an id only below a reservation made durable first:
    ``reserve(vehicle, topic, n)`` must store that ids below ``n`` may have been used, and a restarted
    client is given those with :meth:`resume_headers`."""

    def __init__(self, bus: Bus, schemas: Schemas, interface: str, role: Role,
                 handler: Callable[[Incoming], None],
                 expected: Callable[[VehicleId], Version | None] = lambda _: None,
                 reserve: Reserve | None = None) -> None:
        self.bus, self.schemas, self.interface, self.role = bus, schemas, interface, role
        self.handler, self.expected, self.reserve = handler, expected, reserve
        self._reserved: dict[tuple[VehicleId, str], int] = {}
        self._reserving = asyncio.Lock()
        self.publishes = PUBLISHES[role]
        self.accepts = PUBLISHES["vehicle" if role == "master" else "master"]
        self._header_ids: dict[tuple[VehicleId, str], int] = {}
        self.rejected: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.received: Counter[str] = Counter()
        bus.receiver = self.receive

    # -- topics ------------------------------------------------------------------------------------
    def topic(self, vehicle: VehicleId, version: Version, topic: str) -> str:
        return f"{self.interface}/{version.major}/{vehicle.manufacturer}/{vehicle.serial}/{topic}"

    def follow_filters(self) -> list[str]:
        """What the fleet control subscribes to: every vehicle's state, connection and factsheet."""
        return [f"{self.interface}/+/+/+/{topic}" for topic in FOLLOWS]

    def vehicle_filters(self, vehicle: VehicleId, version: Version) -> list[str]:
        """What a vehicle subscribes to: its own topics published by the fleet control."""
        return [self.topic(vehicle, version, t) for t in sorted(self.accepts & version.topics)]

    # -- sending -----------------------------------------------------------------------------------
    def encode(self, vehicle: VehicleId, version: Version, topic: str, body: Mapping[str, Any]) -> bytes:
        """``body`` with this topic's next header, validated against its schema, as JSON."""
        if topic not in self.publishes or topic not in version.topics:
            raise InvalidOutgoing(f"{self.role} does not publish {topic} in VDA 5050 {version.full}")
        key = (vehicle, topic)
        header_id = self._header_ids[key] = self._header_ids.get(key, -1) + 1
        message = {"headerId": header_id, "timestamp": timestamp(version), "version": version.full,
                   "manufacturer": vehicle.manufacturer, "serialNumber": vehicle.serial, **body}
        errors = self.schemas.errors(version, topic, message)
        if errors:
            raise InvalidOutgoing(f"{topic} for VDA 5050 {version.full} fails its schema: {'; '.join(errors)}")
        return orjson.dumps(message)

    def resume_headers(self, reserved: Mapping[tuple[VehicleId, str], int]) -> None:
        """Go on from the reservations of the run before: a topic's next message gets the id reserved."""
        for key, n in reserved.items():
            self._header_ids[key] = max(self._header_ids.get(key, -1), n - 1)

    async def _reserve(self, reserve: Reserve, vehicle: VehicleId, topic: str) -> None:
        key = (vehicle, topic)
        async with self._reserving:
            following = self._header_ids.get(key, -1) + 1
            if following >= self._reserved.get(key, 0):
                await reserve(vehicle, topic, following + HEADER_BLOCK)
                self._reserved[key] = following + HEADER_BLOCK

    def header_id(self, vehicle: VehicleId, topic: str) -> int:
        """The header id of the last message sent on ``topic`` (0 before the first)."""
        return max(0, self._header_ids.get((vehicle, topic), 0))

    async def send(self, vehicle: VehicleId, version: Version, topic: str, body: Mapping[str, Any]) -> None:
        """Publish ``body`` on ``topic`` with its header, QoS and retain flag (:class:`gate_igv.bus.BusDown`
        when the bus is down)."""
        if self.reserve is not None:
            await self._reserve(self.reserve, vehicle, topic)
        payload = self.encode(vehicle, version, topic, body)
        await self.bus.publish(self.topic(vehicle, version, topic), payload, version.qos(topic), topic in RETAINED)
        self.sent[topic] += 1

    def will(self, vehicle: VehicleId, version: Version, body: Mapping[str, Any]) -> tuple[str, bytes, int, bool]:
        """A vehicle's last will: its ``connection`` message, made now (its header is stale when the
        broker sends it, as the standard says)."""
        return (self.topic(vehicle, version, "connection"), self.encode(vehicle, version, "connection", body),
                version.qos("connection"), True)

    # -- receiving ---------------------------------------------------------------------------------
    def receive(self, topic: str, payload: bytes) -> None:
        """The bus's receiver: a valid message goes to the handler; any other is counted and logged."""
        incoming = self.parse(topic, payload)
        if incoming is not None:
            self.received[incoming.topic] += 1
            self.handler(incoming)

    def parse(self, topic: str, payload: bytes) -> Incoming | None:
        parts = topic.split("/")
        if len(parts) != 5 or parts[0] != self.interface or parts[4] not in self.accepts:
            return self._reject("unknown_topic", topic)
        _, major, manufacturer, serial, name = parts
        if not payload and name == "connection":
            return None  # a retained message being cleared
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return self._reject("not_json", topic)
        if not isinstance(body, dict):
            return self._reject("not_json", topic)
        vehicle = VehicleId(manufacturer, serial)
        version = version_of(body.get("version"))
        expected = self.expected(vehicle)
        if version is None or version.major != major or name not in version.topics \
                or (expected is not None and version is not expected):
            return self._reject("wrong_version", topic)
        if body.get("manufacturer") != manufacturer or body.get("serialNumber") != serial:
            return self._reject("header_mismatch", topic)
        errors = self.schemas.errors(version, name, body)
        if errors:
            return self._reject("schema", topic, len(errors))
        return Incoming(vehicle, version, name, body)

    def _reject(self, reason: str, topic: str, errors: int = 0) -> Incoming | None:
        self.rejected[reason] += 1
        log.warning("igv_message_rejected", topic=topic[:128], reason=reason, errors=errors,
                    count=self.rejected[reason])
        return None

    @property
    def invalid(self) -> int:
        return sum(self.rejected.values())
