"""The link's wire over MQTT (aiomqtt): TLS with a client certificate, one topic per direction.

This side publishes on ``{prefix}/{me}/{partner}`` and subscribes to ``{prefix}/{partner}/{me}`` (QoS 1,
a persistent session, so the broker keeps what the partner sends while this side is away). Both sides'
messages and receipts travel on these two topics; MQTT keeps the order of a topic, so a subject's updates
arrive in the order they were sent. Reconnection is this loop's, with capped backoff.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

import aiomqtt
import structlog

from gatecore.api import TransportError, error_text

log = structlog.get_logger("gate_link")
#: aiomqtt's own logger: it warns at every publish beyond ten waiting for their PUBACK, which a window of
#: messages always is; its errors still show
_QUIET = logging.getLogger("gate_link.aiomqtt")
_QUIET.setLevel(logging.ERROR)
#: a message and its receipt are small packets in both directions: with Nagle's algorithm each would wait for
#: the peer's delayed ACK of the one before (40 ms on Linux)
_NODELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int
    me: str
    partner: str
    prefix: str = "gatecore/link/v1"
    client_id: str | None = None
    tls: ssl.SSLContext | None = None
    keepalive_s: int = 30
    publish_timeout_s: float = 10.0
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0

    @property
    def outgoing(self) -> str:
        return f"{self.prefix}/{self.me}/{self.partner}"

    @property
    def incoming(self) -> str:
        return f"{self.prefix}/{self.partner}/{self.me}"


def tls_context(ca_file: str, cert_file: str, key_file: str | None) -> ssl.SSLContext:
    """Mutual TLS: the broker's certificate checked against ``ca_file``, ours presented."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


class MqttWire:
    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.connected = asyncio.Event()
        self.connects = 0
        self._client: aiomqtt.Client | None = None

    def dispatch(self, payloads: Sequence[bytes]) -> Awaitable[None]:
        """One publish task per message, made in order (asyncio starts tasks in the order they were made, and
        each hands its message to paho before it first waits)."""
        client = self._client
        if client is None:
            raise TransportError("not connected to the link broker")
        topic, timeout = self.settings.outgoing, self.settings.publish_timeout_s
        return _pubacks([asyncio.ensure_future(client.publish(topic, p, qos=1, timeout=timeout)) for p in payloads])

    async def run(self, inbox: asyncio.Queue[bytes]) -> None:
        s = self.settings
        delay = s.reconnect_min_s
        while True:
            try:
                async with aiomqtt.Client(s.host, s.port, identifier=s.client_id or f"gatecore-link-{s.me}",
                                          tls_context=s.tls, keepalive=s.keepalive_s, clean_session=False,
                                          timeout=s.publish_timeout_s, max_inflight_messages=256,
                                          logger=_QUIET, socket_options=_NODELAY) as client:
                    await client.subscribe(s.incoming, qos=1)
                    self._client = client
                    self.connects += 1
                    self.connected.set()
                    delay = s.reconnect_min_s
                    async for message in client.messages:
                        if isinstance(message.payload, bytes):
                            inbox.put_nowait(message.payload)
            except aiomqtt.MqttError as exc:
                log.warning("link_down", error=error_text(exc), retry_in_s=round(delay, 2))
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(s.reconnect_max_s, delay * 2)


async def _pubacks(tasks: list[asyncio.Future[None]]) -> None:
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failed = next((r for r in results if isinstance(r, BaseException)), None)
    if failed is not None:
        raise TransportError(f"publish failed ({type(failed).__name__})")
