"""The device models the core drives, and the events devices report.

A plugin turns a profile's ``[[lanes.devices]]`` entry into one of these through the
``gatecore_make_device`` hook. The core never polls hardware itself: devices report what they see by
``ctx.emit(event)``, and the lane reacts. A command that fails raises :class:`DeviceError`.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from gatecore.types import Observation

if TYPE_CHECKING:
    from gatecore.views import SiteView


class DeviceError(Exception):
    """A device command failed or the device is unreachable. Plugins translate their link errors into this."""


class BarrierPosition(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    MOVING = "moving"
    UNKNOWN = "unknown"


class Aspect(StrEnum):
    """What lane lights show."""

    RED = "red"
    GREEN = "green"
    AMBER = "amber"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    role: str
    t_mono: float = field(default_factory=time.monotonic, kw_only=True)


@dataclass(frozen=True, slots=True)
class PresenceChanged(DeviceEvent):
    occupied: bool


@dataclass(frozen=True, slots=True)
class Scanned(DeviceEvent):
    """A reader read a card, a QR code or a keypad entry. ``text`` is never logged."""

    text: str
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class BarrierMoved(DeviceEvent):
    position: BarrierPosition


@dataclass(frozen=True, slots=True)
class DeviceOnline(DeviceEvent):
    pass


@dataclass(frozen=True, slots=True)
class DeviceOffline(DeviceEvent):
    reason: str


EventSink = Callable[[DeviceEvent], None]


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """What a device factory gets besides its config: its site, where it lives and how it reports.
    Per-site plugin state is in ``ctx.site.stash`` (made in ``gatecore_site_setup``)."""

    site: SiteView
    lane_id: str
    role: str
    kind: str
    sink: EventSink

    @property
    def site_id(self) -> str:
        return self.site.id

    def emit(self, event: DeviceEvent) -> None:
        """Report an event to the lane (non-blocking; call from the event loop thread)."""
        self.sink(event)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run a background task (a poll loop, say) owned by the site; it is cancelled at shutdown."""
        self.site.spawn(coro, f"{self.lane_id}/{self.role}/{name}")


class Device(abc.ABC):  # noqa: B024 - the base of the device models, abstract by role
    """Base of every device. ``online`` is the device's own view of its link."""

    def __init__(self, ctx: DeviceContext) -> None:
        self.ctx = ctx
        self.online = True

    @property
    def role(self) -> str:
        return self.ctx.role

    async def start(self) -> None:
        """Open links and start polling. Called once before the lane runs."""

    async def stop(self) -> None:
        """Close links. Called once at shutdown, after the barrier was commanded closed."""

    def set_online(self, online: bool, reason: str = "") -> None:
        """Record a link change and report it (only on a change)."""
        if online == self.online:
            return
        self.online = online
        self.ctx.emit(DeviceOnline(self.role) if online else DeviceOffline(self.role, reason=reason))


class Barrier(Device):
    """A barrier, gate leaf or turnstile lock. Commands return once sent; position comes back as events."""

    position: BarrierPosition = BarrierPosition.UNKNOWN

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    def report_position(self, position: BarrierPosition) -> None:
        if position != self.position:
            self.position = position
            self.ctx.emit(BarrierMoved(self.role, position=position))


class Presence(Device):
    """A loop detector or presence sensor."""

    occupied: bool = False

    def report_presence(self, occupied: bool) -> None:
        if occupied != self.occupied:
            self.occupied = occupied
            self.ctx.emit(PresenceChanged(self.role, occupied=occupied))


class Lights(Device):
    @abc.abstractmethod
    async def show(self, aspect: Aspect) -> None: ...


class Display(Device):
    @abc.abstractmethod
    async def show_text(self, text: str) -> None: ...


class Reader(Device):
    """A card, QR or keypad reader; reads arrive as :class:`Scanned` events."""

    def report_scan(self, text: str, data: bytes = b"") -> None:
        self.ctx.emit(Scanned(self.role, text=text, data=data))


class Camera(Device):
    @abc.abstractmethod
    async def grab(self) -> Observation:
        """The latest frame as an ``Observation(kind="frame", payload=ndarray)``."""
