"""Where VDA 5050 messages travel: an MQTT broker (aiomqtt), or an in-process broker for the demo and the
command line when there is none. Both deliver what arrives, in order, to one receiver callback, and say
when they are up; publishing while down raises :class:`BusDown` (the fleet logic resends what a vehicle
has not acknowledged, so nothing waits on a publish).

A connection has a last will made afresh at each connect (a vehicle's ``connection`` message with the
header of that moment) and an ``on_connect`` callback (a vehicle says ONLINE, a controller subscribes).
Reconnection is the bus's own loop, with capped backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiomqtt
import structlog
from paho.mqtt.client import topic_matches_sub

from gatecore.api import error_text

log = structlog.get_logger("gate_igv")

Receiver = Callable[[str, bytes], None]
Will = Callable[[], tuple[str, bytes, int, bool]]
OnConnect = Callable[["Bus"], Awaitable[None]]


class BusDown(Exception):
    """Not connected: the message was not sent."""


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    host: str
    port: int = 1883
    client_id: str = ""
    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None
    keepalive_s: int = 15
    connect_timeout_s: float = 5.0  # for the CONNACK (and any call on the client)
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 2.0


class Bus:
    """What the fleet control and the simulated vehicles publish and subscribe through."""

    receiver: Receiver | None = None
    will: Will | None = None
    on_connect: OnConnect | None = None

    @property
    def up(self) -> bool:
        raise NotImplementedError

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        raise NotImplementedError

    async def subscribe(self, *filters: str) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        """Stay connected until cancelled."""
        raise NotImplementedError


class MqttBus(Bus):
    def __init__(self, settings: BrokerSettings, receiver: Receiver | None = None, will: Will | None = None,
                 on_connect: OnConnect | None = None) -> None:
        self.settings, self.receiver, self.will, self.on_connect = settings, receiver, will, on_connect
        self.filters: list[str] = []
        self.connects = 0
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()

    @property
    def up(self) -> bool:
        return self._client is not None

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        client = self._client
        if client is None:
            raise BusDown("not connected")
        try:
            await client.publish(topic, payload, qos=qos, retain=retain, timeout=self.settings.connect_timeout_s)
        except aiomqtt.MqttError as exc:
            raise BusDown(str(exc)) from None

    async def subscribe(self, *filters: str) -> None:
        self.filters += [f for f in filters if f not in self.filters]
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.subscribe([(f, 0) for f in filters])

    async def run(self) -> None:
        s = self.settings
        delay = s.reconnect_min_s
        while True:
            will = None
            if self.will is not None:
                topic, payload, qos, retain = self.will()
                will = aiomqtt.Will(topic, payload, qos, retain)
            client = aiomqtt.Client(s.host, s.port, identifier=s.client_id or None, username=s.username,
                                    password=s.password, tls_context=s.tls, keepalive=s.keepalive_s, will=will,
                                    timeout=s.connect_timeout_s, clean_session=True)
            try:
                async with client:
                    delay = s.reconnect_min_s
                    await self._serve(client)
            except aiomqtt.MqttError as exc:
                log.info("igv_bus_down", url=f"mqtt://{s.host}:{s.port}", error=error_text(exc),
                         retry_in_s=round(delay, 2))
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(s.reconnect_max_s, delay * 2)

    async def _serve(self, client: aiomqtt.Client) -> None:
        if self.filters:
            await client.subscribe([(f, 0) for f in self.filters])
        self._client = client
        self.connects += 1
        self.connected.set()
        if self.on_connect is not None:
            await self.on_connect(self)
        async for message in client.messages:
            if self.receiver is not None and isinstance(message.payload, bytes):
                self.receiver(message.topic.value, message.payload)


# -- an in-process broker -----------------------------------------------------------------------------

@dataclass
class LocalBroker:
    """A broker in this process: topic filters with ``+`` and ``#``, retained messages, last wills. Enough
    for the demo and the command line; QoS and sessions mean nothing here."""

    clients: list[LocalBus] = field(default_factory=list)
    retained: dict[str, bytes] = field(default_factory=dict)
    delivered: int = 0

    def route(self, topic: str, payload: bytes, retain: bool) -> None:
        if retain:
            if payload:
                self.retained[topic] = payload
            else:
                self.retained.pop(topic, None)
        for client in list(self.clients):
            if client.receiver is not None and any(topic_matches_sub(f, topic) for f in client.filters):
                self.delivered += 1
                client.deliver(topic, payload)


class LocalBus(Bus):
    """A client of a :class:`LocalBroker`. Messages arrive on the event loop's next turn, in order.
    :meth:`drop` ends the connection as a lost network would (the broker publishes the last will); the bus
    comes back after ``away_s``."""

    def __init__(self, broker: LocalBroker, receiver: Receiver | None = None, will: Will | None = None,
                 on_connect: OnConnect | None = None) -> None:
        self.broker, self.receiver, self.will, self.on_connect = broker, receiver, will, on_connect
        self.filters: list[str] = []
        self._will: tuple[str, bytes, int, bool] | None = None
        self._up = False
        self._back = asyncio.Event()
        self.connected = asyncio.Event()

    @property
    def up(self) -> bool:
        return self._up

    def deliver(self, topic: str, payload: bytes) -> None:
        asyncio.get_running_loop().call_soon(self._receive, topic, payload)

    def _receive(self, topic: str, payload: bytes) -> None:
        if self._up and self.receiver is not None:
            self.receiver(topic, payload)

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        if not self._up:
            raise BusDown("not connected")
        self.broker.route(topic, payload, retain)

    async def subscribe(self, *filters: str) -> None:
        new = [f for f in filters if f not in self.filters]
        self.filters += new
        if self._up:
            self._retained(new)

    def _retained(self, filters: list[str]) -> None:
        for topic, payload in list(self.broker.retained.items()):
            if any(topic_matches_sub(f, topic) for f in filters):
                self.deliver(topic, payload)

    async def run(self) -> None:
        try:
            while True:
                self._will = self.will() if self.will is not None else None
                self._up = True
                self.broker.clients.append(self)
                self._retained(self.filters)
                self.connected.set()
                if self.on_connect is not None:
                    await self.on_connect(self)
                self._back.clear()
                await self._back.wait()
        finally:
            self._leave()

    def drop(self, away_s: float) -> None:
        """Lose the connection now (the last will is published) and reconnect after ``away_s``."""
        if not self._up:
            return
        self._leave()
        if self._will is not None:
            topic, payload, _, retain = self._will
            self.broker.route(topic, payload, retain)
        asyncio.get_running_loop().call_later(away_s, self._back.set)

    def _leave(self) -> None:
        self._up = False
        self.connected.clear()
        with contextlib.suppress(ValueError):
            self.broker.clients.remove(self)
