"""MQTT transport for the outbox: aiomqtt connection, QoS 1, a window of publishes in flight.

Why not ``await client.publish(...)`` per record: each aiomqtt publish waits on its own ``asyncio.Event``
(through ``asyncio.wait_for``, which in Python 3.11 wraps it in a task and a timer), paho queues every
publish beyond its default 20 in flight, aiomqtt logs a warning per publish once more than 10 are pending,
and a PUBACK with an MQTT 5 failure reason code still counts as published. So records are handed to paho
directly (``Client._client``, the one private attribute used) in one go per batch - one write wake-up per
batch instead of per record - and the PUBACKs are matched to records in paho's ``on_publish`` callback,
which runs on the event loop, so one future per batch is all the loop hands off.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiomqtt
import paho.mqtt.client as paho
import structlog

from gatecore.api import OutRecord, TransportError

from .payloads import SHARED_KINDS, SHARED_LANE, shared_topic, site_topic, topic_segment

log = structlog.get_logger("gate_ioc")

BATCH_SCHEMA = "gatecore.ioc.batch/1"
_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int = 1883
    site: str = "site"
    prefix: str = "gatecore/v1"
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    client_id: str | None = None
    keepalive_s: int = 30
    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None
    qos: Literal[1, 2] = 1
    window: int = 256
    ack_timeout_s: float = 15.0
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0
    payload: Literal["single", "batch"] = "single"
    batch_max: int = 100
    online_payload: bytes = b'{"schema":"gatecore.ioc.status/1","online":true}'
    subscribe: str | None = None  # a topic filter whose messages go to the transport's receiver
    offline_payload: bytes = b'{"schema":"gatecore.ioc.status/1","online":false}'


def tls_context(ca_file: str | None, cert_file: str | None, key_file: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


def _retrieve(fut: asyncio.Future[None]) -> None:
    if fut.done() and not fut.cancelled():
        fut.exception()


@dataclass(slots=True)
class _Batch:
    waiting: int
    done: asyncio.Future[None]
    confirmed: list[str] = field(default_factory=list)


Receiver = Callable[[str, bytes], Awaitable[None]]


class MqttTransport:
    """Publishes outbox records to ``{prefix}/{site}/{lane}/{kind}`` (shared state to
    ``{prefix}/shared/{name}``, snapshots retained); :meth:`run` keeps the connection and hands the
    messages of ``settings.subscribe`` to ``receiver``, one at a time, in order."""

    def __init__(self, settings: MqttSettings, receiver: Receiver | None = None) -> None:
        self.settings = settings
        self.receiver = receiver
        self.site_topic = site_topic(settings.prefix, settings.site)
        self.status_topic = f"{self.site_topic}/status"
        self._topics: dict[tuple[str, str], str] = {}
        self._paho: paho.Client | None = None
        self._pending: dict[int, tuple[_Batch, tuple[str, ...]]] = {}
        self._lost = asyncio.Event()
        self._quickack_due = False
        self.connected = asyncio.Event()
        self.connects = 0
        self.rejected = 0

    def topic(self, lane: str, kind: str) -> str:
        key = (lane, kind)
        topic = self._topics.get(key)
        if topic is None:
            topic = self._topics[key] = (
                shared_topic(self.settings.prefix, lane.removeprefix(SHARED_LANE)) if kind in SHARED_KINDS
                else f"{self.site_topic}/{topic_segment(lane)}/{kind}")
        return topic

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        will = aiomqtt.Will(self.status_topic, s.offline_payload, qos=1, retain=True)
        protocol = aiomqtt.ProtocolVersion.V5 if s.protocol == "5" else aiomqtt.ProtocolVersion.V311
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=s.client_id,
            protocol=protocol,
            will=will,
            keepalive=s.keepalive_s,
            tls_context=s.tls,
            timeout=s.ack_timeout_s,
            max_inflight_messages=0,  # the outbox bounds what is in flight; 0 also skips paho's O(n) rescan per PUBACK
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )

    async def run(self) -> None:
        """Connect, announce online (retained), stay until the link drops; reconnect with capped backoff."""
        delay = self.settings.reconnect_min_s
        while True:
            client = self._client()
            try:
                async with client:
                    self._attach(client)
                    await client.publish(self.status_topic, self.settings.online_payload, qos=1, retain=True)
                    if self.receiver is not None and self.settings.subscribe:
                        await client.subscribe(self.settings.subscribe, qos=1)
                    self.connects += 1
                    self.connected.set()
                    delay = self.settings.reconnect_min_s
                    pump = asyncio.create_task(self._pump(client)) if self.receiver is not None else None
                    try:
                        await self._until_lost()
                    except asyncio.CancelledError:
                        await self._say_offline(client)
                        raise
                    finally:
                        if pump is not None:  # owned here: it never outlives this connection
                            pump.cancel()
                            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                                await pump
            except aiomqtt.MqttError as exc:
                log.warning("ioc_link_down", error=str(exc), retry_in_s=round(delay, 2))
            finally:
                self._detach()
                _retrieve(client._disconnected)  # aiomqtt leaves a lost link's error unretrieved
            await asyncio.sleep(delay)
            delay = min(self.settings.reconnect_max_s, delay * 2)

    async def _pump(self, client: aiomqtt.Client) -> None:
        assert self.receiver is not None
        async for message in client.messages:
            payload = message.payload
            if not isinstance(payload, bytes | bytearray):
                continue
            try:
                await self.receiver(str(message.topic), bytes(payload))
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the others
                log.error("ioc_receive_failed", topic=str(message.topic), error=f"{type(exc).__name__}: {exc}")

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        """A clean stop sends no last will, so publish the retained offline status ourselves."""
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            await asyncio.wait_for(
                client.publish(self.status_topic, self.settings.offline_payload, qos=1, retain=True), 1.0
            )

    async def _until_lost(self) -> None:
        while self._paho is not None and self._paho.is_connected():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), timeout=1.0)
            if self._lost.is_set():
                raise aiomqtt.MqttError("connection lost")

    def _attach(self, client: aiomqtt.Client) -> None:
        pc: paho.Client = client._client  # the one private attribute used: see the module docstring
        previous_publish: Any = pc.on_publish
        previous_disconnect: Any = pc.on_disconnect

        def on_publish(c: paho.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
            entry = self._pending.pop(mid, None)
            if entry is None:
                if previous_publish is not None:
                    previous_publish(c, userdata, mid, rc, props)
                return
            batch, ids = entry
            if not self._quickack_due:
                self._quickack_due = True
                asyncio.get_running_loop().call_soon(self._quickack)
            if getattr(rc, "is_failure", False):
                self.rejected += len(ids)
                log.warning("ioc_publish_refused", reason=str(rc), records=len(ids))
            else:
                batch.confirmed.extend(ids)
            batch.waiting -= 1
            if batch.waiting == 0 and not batch.done.done():
                batch.done.set_result(None)

        def on_disconnect(c: paho.Client, *args: Any) -> None:
            self._lost.set()
            self._fail_pending()
            if previous_disconnect is not None:
                previous_disconnect(c, *args)

        pc.on_publish = on_publish
        pc.on_disconnect = on_disconnect
        self._lost.clear()
        self._paho = pc

    def _quickack(self) -> None:
        """Acknowledge the broker's PUBACK segments now rather than after the 40 ms delayed-ACK timer.

        A broker without TCP_NODELAY (Mosquitto's default) holds further PUBACKs back (Nagle) until its
        previous segment is acknowledged; while we wait for a batch to complete we send no data that would
        carry that ACK, so each window would stall for the delayed-ACK timer.
        """
        self._quickack_due = False
        sock = self._paho.socket() if self._paho is not None else None
        if _TCP_QUICKACK is not None and isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)

    def _detach(self) -> None:
        self._paho = None
        self.connected.clear()
        self._fail_pending()

    def _fail_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for batch, _ids in pending.values():
            if not batch.done.done():
                batch.done.set_exception(TransportError("connection lost"))

    def _messages(self, records: Sequence[OutRecord]) -> list[tuple[str, bytes, tuple[str, ...], bool]]:
        """(topic, payload, record ids, retain) per message; shared state always travels alone."""
        if self.settings.payload == "single":
            return [(self.topic(r.lane, r.kind), r.payload, (r.id,), r.kind == "shared.snapshot") for r in records]
        out: list[tuple[str, bytes, tuple[str, ...], bool]] = []
        run: list[OutRecord] = []
        for r in [*records, None]:
            if r is not None and r.kind in SHARED_KINDS:
                out.append((self.topic(r.lane, r.kind), r.payload, (r.id,), r.kind == "shared.snapshot"))
                continue
            if run and (r is None or r.lane != run[0].lane or len(run) >= self.settings.batch_max):
                body = b",".join(x.payload for x in run)
                lane = run[0].lane
                payload = b'{"schema":"%s","lane":"%s","records":[%s]}' % (BATCH_SCHEMA.encode(), lane.encode(), body)
                out.append((self.topic(lane, "batch"), payload, tuple(x.id for x in run), False))
                run = []
            if r is not None:
                run.append(r)
        return out

    async def publish(self, records: Sequence[OutRecord]) -> Collection[str]:
        pc = self._paho
        if pc is None or not pc.is_connected():
            raise TransportError("not connected to the IOC broker")
        messages = self._messages(records)
        batch = _Batch(0, asyncio.get_running_loop().create_future())
        qos = self.settings.qos
        for topic, payload, ids, retain in messages:
            info = pc.publish(topic, payload, qos, retain)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                self._abandon(batch)
                raise TransportError(f"publish refused by the client: {paho.error_string(info.rc)}")
            self._pending[info.mid] = (batch, ids)
            batch.waiting += 1
        try:
            await asyncio.wait_for(batch.done, self.settings.ack_timeout_s)
        except TransportError as exc:
            raise TransportError(str(exc), confirmed=batch.confirmed) from None
        except TimeoutError:
            self._abandon(batch)
            raise TransportError("no PUBACK before the timeout", confirmed=batch.confirmed) from None
        return batch.confirmed

    def _abandon(self, batch: _Batch) -> None:
        for mid in [mid for mid, (b, _ids) in self._pending.items() if b is batch]:
            del self._pending[mid]
