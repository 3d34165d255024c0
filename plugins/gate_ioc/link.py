"""One MQTT connection: paho-mqtt speaks the protocol, the asyncio event loop does its I/O.

paho's connect blocks (DNS, TCP, TLS), so it runs in a thread; after it, the socket is read and written from
the event loop (``add_reader``, and ``add_writer`` while paho has bytes to send: one write wake-up for a
whole batch of publishes) and ``loop_misc`` runs once a second for keepalives, so every paho callback runs
on the event loop. A :class:`Link` is used once: connect, use, close; reconnecting makes a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

#: How long the broker keeps a persistent session (``clean=False``) of an MQTT 5 client that is away.
SESSION_EXPIRY_S = 7 * 86400


class LinkError(Exception):
    """The broker cannot be reached, refused us, or the connection was lost."""


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
    offline_payload: bytes = b'{"schema":"gatecore.ioc.status/1","online":false}'
    subscribe: tuple[str, ...] = ()  # topic filters whose messages go to the transport's receiver
    stream: str = ""  # the outbox's (numbered records carry it)
    ioc_ack_s: float | None = None  # wait for the IOC's acknowledgement of numbered records (see MqttTransport)


def tls_context(ca_file: str | None, cert_file: str | None, key_file: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


class Link:
    """A paho client on the running event loop. ``lost`` is set once the connection has ended; messages
    of the subscriptions arrive in ``messages``; ``client`` is paho's, for ``publish`` and ``on_publish``."""

    def __init__(self, s: MqttSettings, *, will: tuple[str, bytes] | None = None, clean: bool = True) -> None:
        self.settings, self.clean = s, clean
        v5 = s.protocol == "5"
        self.client = c = paho.Client(CallbackAPIVersion.VERSION2, client_id=s.client_id or "",
                                      protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
                                      clean_session=None if v5 else clean)
        c.max_inflight_messages_set(0)  # the outbox bounds what is in flight; 0 also skips a rescan per PUBACK
        c.connect_timeout = s.ack_timeout_s
        if will is not None:
            c.will_set(will[0], will[1], qos=1, retain=True)
        if s.username is not None:
            c.username_pw_set(s.username, s.password)
        if s.tls is not None:
            c.tls_set_context(s.tls)
        self.lost = asyncio.Event()
        self.messages: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        c.on_message = lambda _c, _u, m: self.messages.put_nowait((m.topic, bytes(m.payload)))
        c.on_disconnect = lambda *_: self.lost.set()
        self._loop = asyncio.get_running_loop()
        self._fd = -1
        self._keepalive: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        """Connect and wait for the broker's CONNACK; :class:`LinkError` if that fails."""
        c, s = self.client, self.settings
        connack: asyncio.Future[Any] = self._loop.create_future()
        c.on_connect = lambda _c, _u, _flags, rc, _p: _settle(connack, rc)
        try:
            await asyncio.to_thread(c.connect, s.host, s.port, s.keepalive_s, **self._session())
        except (OSError, ValueError) as exc:
            raise LinkError(f"cannot connect to {s.host}:{s.port}: {exc}") from None
        sock = c.socket()
        assert isinstance(sock, socket.socket)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._fd = sock.fileno()
        self._loop.add_reader(self._fd, self._read)
        c.on_socket_register_write = lambda *_: self._writing(True)
        c.on_socket_unregister_write = lambda *_: self._writing(False)
        c.on_socket_close = lambda *_: self._forget_socket()
        self._writing(c.want_write())
        self._keepalive = self._loop.create_task(self._keep_alive(), name="mqtt-keepalive")
        try:
            rc = await asyncio.wait_for(asyncio.shield(connack), s.ack_timeout_s)
        except TimeoutError:
            raise LinkError("no CONNACK before the timeout") from None
        if rc.is_failure:
            raise LinkError(f"the broker refused the connection: {rc}")

    def _session(self) -> dict[str, Any]:
        if self.settings.protocol != "5":
            return {}
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0 if self.clean else SESSION_EXPIRY_S
        return {"clean_start": self.clean, "properties": props}

    async def subscribe(self, filters: tuple[str, ...], qos: int = 1) -> None:
        """Subscribe and wait for the SUBACK; :class:`LinkError` if a filter is refused."""
        suback: asyncio.Future[list[Any]] = self._loop.create_future()
        self.client.on_subscribe = lambda _c, _u, _mid, codes, _p: _settle(suback, codes)
        rc, _mid = self.client.subscribe([(f, qos) for f in filters])
        if rc != paho.MQTT_ERR_SUCCESS:
            raise LinkError(f"subscribe refused by the client: {paho.error_string(rc)}")
        try:
            codes = await asyncio.wait_for(suback, self.settings.ack_timeout_s)
        except TimeoutError:
            raise LinkError("no SUBACK before the timeout") from None
        if any(code.is_failure for code in codes):
            raise LinkError(f"the broker refused the subscription to {filters}: {codes}")

    async def close(self, timeout: float = 1.0) -> None:
        """Disconnect cleanly (no last will) if still connected, within ``timeout`` s; then let go."""
        if self._fd >= 0 and self.client.is_connected():
            self.client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.lost.wait(), timeout)
        self.drop()

    def drop(self) -> None:
        """Let go of the connection at once (the broker sends the last will)."""
        if self._keepalive is not None:
            self._keepalive.cancel()
        sock = self.client.socket()
        self._forget_socket()
        if sock is not None:
            sock.close()

    def _writing(self, on: bool) -> None:
        if on:
            self._loop.add_writer(self._fd, self._write)
        else:
            self._loop.remove_writer(self._fd)

    def _forget_socket(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
            self._fd = -1
        self.lost.set()

    def _read(self) -> None:
        c = self.client
        try:  # a TLS socket may hold decrypted bytes that select() cannot see
            while c.loop_read() == paho.MQTT_ERR_SUCCESS and getattr(c.socket(), "pending", int)() > 0:
                pass
        except Exception:  # noqa: BLE001 - a broken connection; its users see ``lost``
            self.drop()

    def _write(self) -> None:
        try:
            self.client.loop_write()
        except Exception:  # noqa: BLE001 - as in _read
            self.drop()

    async def _keep_alive(self) -> None:
        while self.client.loop_misc() == paho.MQTT_ERR_SUCCESS:  # noqa: ASYNC110 - paho's keepalive clock
            await asyncio.sleep(1.0)
        self.lost.set()


def _settle(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)
