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
from pydantic import ValidationError

from gatecore.api import OutRecord, TransportError, error_text

from .link import Link, LinkError, MqttSettings, tls_context
from .payloads import SHARED_KINDS, SHARED_LANE, Ack, numbered, shared_topic, site_topic, topic_segment

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
    ``{prefix}/shared/{name}``, snapshots retained), numbered ones with their ``stream`` and ``seq``;
    :meth:`run` keeps the connection and hands the messages of ``settings.subscribe`` to ``receiver``, one
    at a time, in order. With ``settings.ioc_ack_s`` it also takes the IOC's acknowledgements
    (``{prefix}/{site}/+/ack``) and confirms a numbered record only once one covers it."""

    def __init__(self, settings: MqttSettings, receiver: Receiver | None = None) -> None:
        self.settings = settings
        self.receiver = receiver
        self.site_topic = site_topic(settings.prefix, settings.site)
        self.status_topic = f"{self.site_topic}/status"
        self.filters = (settings.subscribe if receiver is not None else ()) + (
            (f"{self.site_topic}/+/ack",) if settings.ioc_ack_s is not None else ())
        self._topics: dict[tuple[str, str], str] = {}
        self._link: Link | None = None
        self._pending: dict[int, tuple[_Batch, tuple[str, ...]]] = {}  # mid -> batch, ids its PUBACK confirms
        self._unacked: dict[str, dict[int, tuple[_Batch, str]]] = {}  # lane -> {lane_seq: (batch, id)}
        self._ack_timers: dict[str, asyncio.TimerHandle] = {}
        self._quickack_due = False
        self.connected = asyncio.Event()
        self.connects = 0
        self.rejected = 0
        self.overdue = 0  # records the IOC did not acknowledge in time (sent again by the outbox)

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
                if self.filters:
                    await link.subscribe(self.filters)
                self.connects += 1
                self.connected.set()
                delay = s.reconnect_min_s
                await self._serve(link)
                raise LinkError("connection lost")
            except LinkError as exc:
                log.warning("ioc_link_down", error=error_text(exc), retry_in_s=round(delay, 2))
            finally:
                self._link = None
                self.connected.clear()
                self._fail_pending()
                link.drop()
            await asyncio.sleep(delay)
            delay = min(s.reconnect_max_s, delay * 2)

    async def _serve(self, link: Link) -> None:
        """Stay until the link is lost; the receiver gets what arrives meanwhile."""
        pump = asyncio.create_task(self._pump(link)) if self.filters else None
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
        while True:
            topic, payload = await link.messages.get()
            try:
                if topic.startswith(self.site_topic + "/") and topic.endswith("/ack"):
                    self._on_ack(payload)
                elif self.receiver is not None:
                    await self.receiver(topic, payload)
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the others
                log.error("ioc_receive_failed", topic=topic, error=error_text(exc))

    def _on_ack(self, message: bytes) -> None:
        try:
            ack = Ack.model_validate_json(message)
        except ValidationError as exc:
            log.warning("ioc_ack_refused", errors=exc.error_count())
            return
        if ack.site == self.settings.site:
            self.acknowledged(ack.lane, ack.stream, ack.seq)

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
            log.warning("ioc_publish_refused", code=rc.value, records=len(ids))
        else:
            batch.confirmed.extend(ids)
        self._count_down(batch)

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
        batches = [b for b, _ids in self._pending.values()]
        batches += [b for waiting in self._unacked.values() for b, _id in waiting.values()]
        self._pending, self._unacked = {}, {}
        for timer in self._ack_timers.values():
            timer.cancel()
        self._ack_timers.clear()
        for batch in batches:
            if not batch.done.done():
                batch.done.set_exception(TransportError("connection lost"))

    def _payload(self, r: OutRecord) -> bytes:
        return r.payload if r.lane_seq is None else numbered(r.payload, self.settings.stream, r.lane_seq)

    def _messages(self, records: Sequence[OutRecord]) -> list[tuple[str, bytes, Sequence[OutRecord], bool]]:
        """(topic, payload, records, retain) per message; shared state always travels alone."""
        if self.settings.payload == "single":
            return [(self.topic(r.lane, r.kind), self._payload(r), (r,), r.kind == "shared.snapshot") for r in records]
        out: list[tuple[str, bytes, Sequence[OutRecord], bool]] = []
        run: list[OutRecord] = []
        for r in [*records, None]:
            if r is not None and r.kind in SHARED_KINDS:
                out.append((self.topic(r.lane, r.kind), r.payload, (r,), r.kind == "shared.snapshot"))
                continue
            if run and (r is None or r.lane != run[0].lane or len(run) >= self.settings.batch_max):
                body = b",".join(self._payload(x) for x in run)
                lane = run[0].lane
                payload = b'{"schema":"%s","lane":"%s","records":[%s]}' % (BATCH_SCHEMA.encode(), lane.encode(), body)
                out.append((self.topic(lane, "batch"), payload, run, False))
                run = []
            if r is not None:
                run.append(r)
        return out

    async def publish(self, records: Sequence[OutRecord]) -> Collection[str]:
        """Send ``records``; those the broker confirmed (with ``ioc_ack_s``: numbered ones the IOC has
        acknowledged) come back. Waiting for the IOC ends when its acknowledgement of a lane in the call
        has not moved for ``ioc_ack_s``: the outbox then sends what is missing again."""
        link = self._link
        if link is None or link.lost.is_set():
            raise TransportError("not connected to the IOC broker")
        acks = self.settings.ioc_ack_s is not None
        batch = _Batch(0, asyncio.get_running_loop().create_future())
        for topic, payload, recs, retain in self._messages(records):
            info = link.client.publish(topic, payload, self.settings.qos, retain)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                self._abandon(batch)
                raise TransportError(f"publish refused by the client: {paho.error_string(info.rc)}")
            self._pending[info.mid] = (batch, tuple(r.id for r in recs if not acks or r.lane_seq is None))
            batch.waiting += 1
            for r in recs:
                if acks and r.lane_seq is not None:
                    self._await_ack(batch, r.lane, r.lane_seq, r.id)
        try:
            await asyncio.wait_for(batch.done, None if acks else self.settings.ack_timeout_s)
        except TransportError as exc:
            raise TransportError(str(exc), confirmed=batch.confirmed) from None
        except TimeoutError:
            raise TransportError("no PUBACK before the timeout", confirmed=batch.confirmed) from None
        finally:
            self._abandon(batch)
        return batch.confirmed

    def _abandon(self, batch: _Batch) -> None:
        if batch.waiting == 0:
            return
        for mid in [mid for mid, (b, _ids) in self._pending.items() if b is batch]:
            del self._pending[mid]
        for lane, waiting in list(self._unacked.items()):
            for n in [n for n, (b, _id) in waiting.items() if b is batch]:
                del waiting[n]
            if not waiting:
                self._unacked.pop(lane)
                self._ack_timers.pop(lane).cancel()

    # -- acknowledgements from the IOC (``ioc_ack_s``) --------------------------------------------
    def _await_ack(self, batch: _Batch, lane: str, lane_seq: int, rid: str) -> None:
        self._unacked.setdefault(lane, {})[lane_seq] = (batch, rid)
        batch.waiting += 1
        if lane not in self._ack_timers:
            self._restart_ack_timer(lane)

    def _restart_ack_timer(self, lane: str) -> None:
        if (timer := self._ack_timers.pop(lane, None)) is not None:
            timer.cancel()
        assert self.settings.ioc_ack_s is not None
        self._ack_timers[lane] = asyncio.get_running_loop().call_later(self.settings.ioc_ack_s, self._overdue, lane)

    def _overdue(self, lane: str) -> None:
        """The IOC's acknowledgement of ``lane`` has not moved: end the calls waiting for it."""
        del self._ack_timers[lane]
        waiting = self._unacked.pop(lane, {})
        self.overdue += len(waiting)
        for batch, _id in waiting.values():
            if not batch.done.done():
                batch.done.set_result(None)

    def acknowledged(self, lane: str, stream: str, upto: int) -> None:
        """The IOC has stored every record of ``lane`` numbered up to ``upto`` in ``stream``."""
        waiting = self._unacked.get(lane)
        if stream != self.settings.stream or not waiting:
            return
        done = [n for n in waiting if n <= upto]
        for n in done:
            batch, rid = waiting.pop(n)
            batch.confirmed.append(rid)
            self._count_down(batch)
        if not waiting:
            del self._unacked[lane]
            self._ack_timers.pop(lane).cancel()
        elif done:
            self._restart_ack_timer(lane)

    @staticmethod
    def _count_down(batch: _Batch) -> None:
        batch.waiting -= 1
        if batch.waiting == 0 and not batch.done.done():
            batch.done.set_result(None)
