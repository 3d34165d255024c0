"""One site's IOC reporting: the outbox, the transport, the delivery loop and the heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import structlog

from gatecore.api import (
    Decision,
    Fault,
    LaneStateChange,
    OfficerEvent,
    Outbox,
    SharedState,
    SiteView,
    Transport,
    error_text,
)

from . import payloads
from .config import IocSection
from .local import JsonlTransport

if TYPE_CHECKING:
    from .link import MqttSettings

log = structlog.get_logger("gate_ioc")

#: How long ``stop`` lets the outbox drain before the delivery loop is cancelled.
DRAIN_ON_STOP_S = 1.0


def make_outbox(cfg: IocSection) -> Outbox:
    o = cfg.outbox
    # a call waiting for the IOC ends after ack.timeout_s without progress; the outbox's limit is a backstop
    call_timeout_s = 30.0 + (cfg.ack.timeout_s * 3 if cfg.ack else 0.0)
    return Outbox(o.path, budget_bytes=int(o.budget_mb * 1024 * 1024), retention_s=o.retention_h * 3600,
                  window=o.window, batch=o.batch, synchronous=o.synchronous, sequenced=payloads.SEQUENCED,
                  call_timeout_s=call_timeout_s)


def make_transport(cfg: IocSection, site_id: str, receiver: Any = None, stream: str = "") -> tuple[Transport, Any]:
    """The transport and, for MQTT, the coroutine that keeps its connection (handing shared state that
    arrives to ``receiver``). ``stream`` is the outbox's (:attr:`Outbox.stream`)."""
    if cfg.transport == "local":
        return JsonlTransport(cfg.local_path, payloads.site_topic(cfg.topic_prefix, site_id), stream), None
    from .mqtt import MqttTransport  # paho-mqtt is an optional dependency

    now = time.time()
    settings = mqtt_settings(
        cfg, site_id, client_id=cfg.client_id or f"gatecore-{payloads.topic_segment(site_id)}"[:128],
        online_payload=payloads.encode(payloads.status(site_id, True, now)),
        offline_payload=payloads.encode(payloads.status(site_id, False, now)),
        subscribe=(payloads.shared_filter(cfg.topic_prefix),) if cfg.share is not None else (),
        stream=stream, ioc_ack_s=cfg.ack.timeout_s if cfg.ack else None)
    transport = MqttTransport(settings, receiver if cfg.share is not None else None)
    return transport, transport.run()


def mqtt_settings(cfg: IocSection, site_id: str, **more: Any) -> MqttSettings:
    """The broker connection a profile describes (``more``: the rest of :class:`MqttSettings`)."""
    from .link import MqttSettings, tls_context

    host, port, tls = cfg.endpoint()
    t = cfg.tls
    return MqttSettings(
        host=host, port=port, site=site_id, prefix=cfg.topic_prefix, protocol=cfg.protocol,
        keepalive_s=cfg.keepalive_s, username=cfg.username,
        password=cfg.password.reveal() if cfg.password else None,
        tls=tls_context(t.ca_file if t else None, t.cert_file if t else None, t.key_file if t else None)
        if tls else None,
        qos=cfg.qos, window=cfg.outbox.window, payload=cfg.payload, batch_max=cfg.batch_max, **more)


class Reporter:
    def __init__(self, cfg: IocSection, site: SiteView) -> None:
        self.cfg = cfg
        self.site = site
        self.started = time.monotonic()
        self.outbox = make_outbox(cfg)
        self.salt = cfg.doc_salt.reveal().encode() if cfg.doc_salt else None
        self._stop = asyncio.Event()
        self._done = asyncio.Event()
        self._opening: asyncio.Task[None] | None = None
        self.sharing = Sharing(cfg, site) if cfg.share is not None else None
        self.transport: Transport | None = None

    async def open(self) -> None:
        """Open the outbox (once, however many callers ask at the same time)."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(self.outbox.open())
        await asyncio.shield(self._opening)

    async def report(self, record: Decision | Fault | LaneStateChange | OfficerEvent) -> None:
        """Commit one record to the outbox; returns once it is on disk."""
        await self.open()
        lane = record.stamp.lane_id
        if isinstance(record, Decision):
            kind, payload = "decision", payloads.decision(record, self.salt)
        elif isinstance(record, Fault):
            kind, payload = "fault", payloads.fault(record)
        elif isinstance(record, OfficerEvent):
            kind, payload, lane = "officer", payloads.officer(record), payloads.officer_lane(record)
        else:
            kind, payload = "state", payloads.state(record)
        await self.outbox.put(lane, kind, payloads.encode(payload), id=record.stamp.id)

    async def share(self, update: SharedState) -> None:
        """Sign ``update`` and commit it to the outbox (delivered in order per name)."""
        if self.sharing is None:
            return
        await self.open()
        await self.sharing.put(self.outbox, update)

    async def serve(self) -> None:
        """Deliver and beat until :meth:`stop`; then drain briefly, stop the tasks and close the outbox."""
        receiver = self.sharing.receive if self.sharing is not None else None
        transport, keeper = make_transport(self.cfg, self.site.id, receiver, self.outbox.stream)
        self.transport = transport
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

    def connected(self) -> bool:
        """Whether the transport is up (always, for the local file)."""
        event = getattr(self.transport, "connected", None)
        return self.transport is not None and (event is None or event.is_set())

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
                log.warning("ioc_heartbeat_failed", error=error_text(exc))

    async def _beat(self) -> None:
        status = await self.outbox.status()
        backlog = {b.lane: b for b in status.lanes}
        now, uptime = time.time(), time.monotonic() - self.started
        items = []
        for lane_id, lane in self.site.lanes.items():
            b = backlog.get(lane_id)
            beat = payloads.heartbeat(self.site.id, lane_id, lane.state, now, uptime, lane.crossings,
                                      lane.faults, b.pending if b else 0,
                                      now - b.oldest_created if b else None)
            items.append((lane_id, "heartbeat", payloads.encode(beat), str(beat["id"]), False))
        if items:
            await self.outbox.put_many(items)


class Sharing:
    """Shared state over the broker: signs what this site shares, verifies and applies what arrives."""

    def __init__(self, cfg: IocSection, site: SiteView) -> None:
        from . import share  # cryptography: only when sharing is configured

        assert cfg.share is not None
        self.share = share
        self.site = site
        self.trusted = share.load_trusted(cfg.share.trusted_keys)
        self.signer = share.load_signer(cfg.share.signing_key.reveal()) if cfg.share.signing_key else None
        self.key_id = cfg.share.key_id
        self.sent: deque[str] = deque(maxlen=1024)  # ids this site sent: the broker hands them back
        self.applied: dict[str, str] = {}  # name -> id of the last update applied
        self.refused = self.not_applied = 0

    async def put(self, outbox: Outbox, update: SharedState) -> None:
        if self.signer is None or self.key_id is None:
            log.warning("shared_state_not_sent", shared=update.name, why="no_signing_key")  # in the share section
            return
        message = self.share.sign(update, self.signer, self.key_id)
        self.sent.append(update.id)
        await outbox.put(payloads.SHARED_LANE + update.name, f"shared.{update.kind}", message, id=update.id)

    async def receive(self, topic: str, message: bytes) -> None:
        """One message from ``{prefix}/shared/#``: verified, then applied through the plugins."""
        try:
            update = self.share.verify(message, self.trusted, topic.rsplit("/", 1)[-1])
        except self.share.Refused as exc:
            self.refused += 1
            log.warning("shared_state_refused", topic=topic, error=error_text(exc), refused=self.refused)
            return
        if update.site_id == self.site.id or update.id in self.sent or self.applied.get(update.name) == update.id:
            # our own (also one retained from before a restart: applying it could take us back a version),
            # or the retained snapshot already applied (it comes again on each reconnect)
            return
        if await self.site.apply_state(update):
            self.applied[update.name] = update.id
        else:
            self.not_applied += 1
