"""MQTT transport for the outbox: QoS 1 publishes through paho-mqtt (:mod:`.link`), a window in flight.

Each batch of records is handed to paho in one go (one write wake-up per batch, not per record) and the
PUBACKs are matched to records in paho's ``on_publish``, which runs on the event loop: one future per
batch, no task or timer per record, and a PUBACK with an MQTT 5 failure reason code does not count as
delivered. (aiomqtt, which wraps paho, awaits an event per publish, queues publishes beyond paho's default
20 in flight, warns once per publish beyond 10 pending and ignores PUBACK reason codes.)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
import structlog

from gatecore.api import OutRecord, TransportError

from .link import Link, LinkError, MqttSettings, tls_context
from .payloads import SHARED_KINDS, SHARED_LANE, shared_topic, site_topic, topic_segment

__all__ = ["MqttSettings", "MqttTransport", "tls_context"]

log = structlog.get_logger("gate_ioc")

BATCH_SCHEMA = "gatecore.ioc.batch/1"
_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


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
        self._link: Link | None = None
        self._pending: dict[int, tuple[_Batch, tuple[str, ...]]] = {}
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

    async def run(self) -> None:
        """Connect, announce online (retained), stay until the link drops; reconnect with capped backoff."""
        s = self.settings
        delay = s.reconnect_min_s
        while True:
            link = Link(s, will=(self.status_topic, s.offline_payload))
            link.client.on_publish = self._on_publish
            try:
                await link.connect()
                self._link = link
                link.client.publish(self.status_topic, s.online_payload, qos=1, retain=True)
                if self.receiver is not None and s.subscribe:
                    await link.subscribe(s.subscribe)
                self.connects += 1
                self.connected.set()
                delay = s.reconnect_min_s
                await self._serve(link)
                raise LinkError("connection lost")
            except LinkError as exc:
                log.warning("ioc_link_down", error=str(exc), retry_in_s=round(delay, 2))
            finally:
                self._link = None
                self.connected.clear()
                self._fail_pending()
                link.drop()
            await asyncio.sleep(delay)
            delay = min(s.reconnect_max_s, delay * 2)

    async def _serve(self, link: Link) -> None:
        """Stay until the link is lost; the receiver gets what arrives meanwhile."""
        pump = asyncio.create_task(self._pump(link)) if self.receiver is not None else None
        try:
            await link.lost.wait()
        except asyncio.CancelledError:  # a clean stop sends no last will: say offline ourselves
            link.client.publish(self.status_topic, self.settings.offline_payload, qos=1, retain=True)
            await link.close()
            raise
        finally:
            if pump is not None:  # owned here: it never outlives this connection
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump

    async def _pump(self, link: Link) -> None:
        assert self.receiver is not None
        while True:
            topic, payload = await link.messages.get()
            try:
                await self.receiver(topic, payload)
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the others
                log.error("ioc_receive_failed", topic=topic, error=f"{type(exc).__name__}: {exc}")

    def _on_publish(self, c: paho.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        entry = self._pending.pop(mid, None)
        if entry is None:
            return
        batch, ids = entry
        if not self._quickack_due:
            self._quickack_due = True
            asyncio.get_running_loop().call_soon(self._quickack)
        if rc.is_failure:
            self.rejected += len(ids)
            log.warning("ioc_publish_refused", reason=str(rc), records=len(ids))
        else:
            batch.confirmed.extend(ids)
        batch.waiting -= 1
        if batch.waiting == 0 and not batch.done.done():
            batch.done.set_result(None)

    def _quickack(self) -> None:
        """Acknowledge the broker's PUBACK segments now rather than after the 40 ms delayed-ACK timer.

        A broker without TCP_NODELAY (Mosquitto's default) holds further PUBACKs back (Nagle) until its
        previous segment is acknowledged; while we wait for a batch to complete we send no data that would
        carry that ACK, so each window would stall for the delayed-ACK timer.
        """
        self._quickack_due = False
        sock = self._link.client.socket() if self._link is not None else None
        if _TCP_QUICKACK is not None and isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)

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
        link = self._link
        if link is None or link.lost.is_set():
            raise TransportError("not connected to the IOC broker")
        pc = link.client
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
