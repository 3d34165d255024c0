"""One site's IOC reporting: the outbox, the transport, the delivery loop and the heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog

from gatecore.api import Decision, Fault, LaneStateChange, Outbox, Site, Transport

from . import payloads
from .config import IocSection
from .local import JsonlTransport

log = structlog.get_logger("gate_ioc")

#: How long ``stop`` lets the outbox drain before the delivery loop is cancelled.
DRAIN_ON_STOP_S = 1.0


def make_outbox(cfg: IocSection) -> Outbox:
    o = cfg.outbox
    return Outbox(o.path, budget_bytes=int(o.budget_mb * 1024 * 1024), retention_s=o.retention_h * 3600,
                  window=o.window, batch=o.batch, synchronous=o.synchronous)


def make_transport(cfg: IocSection, site_id: str) -> tuple[Transport, Any]:
    """The transport and, for MQTT, the coroutine that keeps its connection."""
    if cfg.transport == "local":
        return JsonlTransport(cfg.local_path, payloads.site_topic(cfg.topic_prefix, site_id)), None
    from .mqtt import MqttSettings, MqttTransport, tls_context  # aiomqtt is an optional dependency

    host, port, tls = cfg.endpoint()
    t = cfg.tls
    now = time.time()
    settings = MqttSettings(
        host=host, port=port, site=site_id, prefix=cfg.topic_prefix, protocol=cfg.protocol,
        client_id=cfg.client_id or f"gatecore-{payloads.topic_segment(site_id)}"[:128],
        keepalive_s=cfg.keepalive_s, username=cfg.username,
        password=cfg.password.reveal() if cfg.password else None,
        tls=tls_context(t.ca_file if t else None, t.cert_file if t else None, t.key_file if t else None)
        if tls else None,
        qos=cfg.qos, window=cfg.outbox.window, payload=cfg.payload, batch_max=cfg.batch_max,
        online_payload=payloads.encode(payloads.status(site_id, True, now)),
        offline_payload=payloads.encode(payloads.status(site_id, False, now)),
    )
    transport = MqttTransport(settings)
    return transport, transport.run()


class Reporter:
    def __init__(self, cfg: IocSection, site: Site) -> None:
        self.cfg = cfg
        self.site = site
        self.outbox = make_outbox(cfg)
        self.salt = cfg.doc_salt.reveal().encode() if cfg.doc_salt else None
        self._stop = asyncio.Event()
        self._done = asyncio.Event()
        self._opening: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Open the outbox (once, however many callers ask at the same time)."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(self.outbox.open())
        await asyncio.shield(self._opening)

    async def report(self, record: Decision | Fault | LaneStateChange) -> None:
        """Commit one record to the outbox; returns once it is on disk."""
        await self.open()
        if isinstance(record, Decision):
            kind, payload = "decision", payloads.decision(record, self.salt)
        elif isinstance(record, Fault):
            kind, payload = "fault", payloads.fault(record)
        else:
            kind, payload = "state", payloads.state(record)
        await self.outbox.put(record.stamp.lane_id, kind, payloads.encode(payload), id=record.stamp.id)

    async def serve(self) -> None:
        """Deliver and beat until :meth:`stop`; then drain briefly, stop the tasks and close the outbox."""
        transport, keeper = make_transport(self.cfg, self.site.id)
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(self.outbox.deliver(transport), name="ioc/deliver"),
                         tg.create_task(self._heartbeats(), name="ioc/heartbeat")]
                if keeper is not None:
                    tasks.append(tg.create_task(keeper, name="ioc/connection"))
                await self._stop.wait()
                await self.outbox.wait_idle(DRAIN_ON_STOP_S)
                for task in tasks:
                    task.cancel()
        finally:
            with contextlib.suppress(Exception):
                await self.outbox.close()
            self._done.set()

    async def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), timeout)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.heartbeat_s)
            try:
                await self._beat()
            except Exception as exc:  # noqa: BLE001 - a missed beat is logged, the next one is tried
                log.warning("ioc_heartbeat_failed", error=repr(exc))

    async def _beat(self) -> None:
        status = await self.outbox.status()
        backlog = {b.lane: b for b in status.lanes}
        now, uptime = time.time(), time.monotonic() - self.site.started
        items = []
        for lane_id, lane in self.site.lanes.items():
            b = backlog.get(lane_id)
            beat = payloads.heartbeat(self.site.id, lane_id, lane.state, now, uptime, lane.stats.crossings,
                                      lane.stats.faults, b.pending if b else 0,
                                      now - b.oldest_created if b else None)
            items.append((lane_id, "heartbeat", payloads.encode(beat), str(beat["id"]), False))
        if items:
            await self.outbox.put_many(items)
