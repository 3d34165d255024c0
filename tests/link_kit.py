"""Test kit of the link: keys and a signed trust list for both parties, a Mosquitto on 127.0.0.1 that requires
client certificates, and the two sides (controller and partner simulator) connected through it."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from gate_ioc.testing import Broker
from gate_link import store
from gate_link.endpoint import Endpoint, Settings
from gate_link.mqtt import MqttSettings, MqttWire, tls_context
from gate_link.partner import PartnerSimulator, manifest_fields
from gate_link.sim import container_code
from gate_link.suites import PrivateKey, Suite, generate
from gate_link.trust import TrustList, trust_document, trusted_key

from .tls_kit import make_pki

MC, DX = "mong-cai", "dongxing"
DAY = 86400.0


@dataclass
class Keys:
    """Both parties' keys, and the trust list (signed by ``root``) every side uses: the partner also has a
    revoked key, an expired one and a rogue one the list does not hold."""

    root: PrivateKey
    mc: PrivateKey
    dx: PrivateKey
    revoked: PrivateKey
    expired: PrivateKey
    rogue: PrivateKey
    trust: TrustList
    document: dict[str, object]

    def misbehaving(self) -> dict[str, PrivateKey]:
        return {"unknown_key": self.rogue, "revoked": self.revoked, "expired": self.expired}


def make_keys(partner_suite: Suite = "sm2") -> Keys:
    now = time.time()
    root = generate("ed25519", "root-1")
    mc = generate("ed25519", "mc-1")
    dx, revoked, expired, rogue = (generate(partner_suite, kid) for kid in ("dx-1", "dx-0", "dx-old", "dx-9"))
    rows = [trusted_key(mc.public(), "mc-1", MC, now - DAY, now + DAY),
            trusted_key(dx.public(), "dx-1", DX, now - DAY, now + DAY),
            trusted_key(revoked.public(), "dx-0", DX, now - DAY, now + DAY, revoked=True),
            trusted_key(expired.public(), "dx-old", DX, now - 3 * DAY, now - DAY)]
    document = trust_document(rows, root, 1, now)
    return Keys(root, mc, dx, revoked, expired, rogue, TrustList.from_data(document, root.public(), "test"), document)


def tls_broker(directory: Path) -> tuple[Broker, dict[str, str]]:
    """A Mosquitto on 127.0.0.1 with TLS that refuses clients without a certificate of the test CA."""
    pki = make_pki(directory / "pki", clients=(MC, DX, "stranger"))
    extra = "\n".join([f"cafile {pki['ca']}", f"certfile {pki['server']}", f"keyfile {pki['server_key']}",
                       "require_certificate true", "set_tcp_nodelay true"])
    return Broker(directory / "mosquitto", extra=extra), pki


def wire(broker: Broker, pki: dict[str, str], me: str, partner: str, prefix: str) -> MqttWire:
    return MqttWire(MqttSettings("127.0.0.1", broker.port, me, partner, prefix, f"{prefix}-{me}",
                                 tls_context(pki["ca"], pki[me], pki[me + "_key"]), keepalive_s=10,
                                 reconnect_max_s=0.5))


FAST = Settings(window_s=300.0, receipt_timeout_s=2.0, backoff_max_s=0.5)


@dataclass
class Link:
    """The two sides through one broker: ``ctl`` (mong-cai) and ``sim`` (dongxing, the partner simulator)."""

    broker: Broker
    pki: dict[str, str]
    keys: Keys
    directory: Path
    prefix: str
    settings: Settings
    ctl: Endpoint | None = None
    sim: PartnerSimulator | None = None

    def controller(self) -> Endpoint:
        return Endpoint(MC, DX, self.keys.mc, self.keys.trust, wire(self.broker, self.pki, MC, DX, self.prefix),
                        self.directory / MC, self.settings)

    def partner(self) -> PartnerSimulator:
        ep = Endpoint(DX, MC, self.keys.dx, self.keys.trust, wire(self.broker, self.pki, DX, MC, self.prefix),
                      self.directory / DX, self.settings)
        return PartnerSimulator(ep, self.keys.misbehaving())


@contextlib.asynccontextmanager
async def serving(endpoint: Endpoint, connected: bool = True) -> AsyncIterator[Endpoint]:
    """``endpoint`` open and served until the block ends (a controller "restart" is two blocks)."""
    await endpoint.open()
    task = asyncio.create_task(endpoint.serve())
    try:
        if connected:
            await wait_until(endpoint.wire.connected.is_set, 15)
        yield endpoint
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await endpoint.close()


def new_link(broker: Broker, pki: dict[str, str], directory: Path, settings: Settings = FAST) -> Link:
    """Keys, files and topics of a new link (its own topic prefix: tests share a broker)."""
    return Link(broker, pki, make_keys(), directory, f"t{uuid.uuid4().hex[:12]}", settings)


@contextlib.asynccontextmanager
async def running_link(broker: Broker, pki: dict[str, str], directory: Path,
                       settings: Settings = FAST) -> AsyncIterator[Link]:
    """Both sides of a new link, served."""
    link = new_link(broker, pki, directory, settings)
    sim = link.partner()
    async with serving(link.controller()) as ctl, serving(sim.endpoint):
        link.ctl, link.sim = ctl, sim
        yield link


async def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polls state owned by the code under test
            await asyncio.sleep(0.01)


async def applied(endpoint: Endpoint, kind: str | None = None) -> list[tuple[str, str, str, int]]:
    """What ``endpoint`` applied, in order: (id, kind, subject, version)."""
    return await endpoint.db.run(lambda conn: store.log(conn, kind))


def manifest(consignment: str = "DX-TEST-1", version: int = 1, flagged: bool = False,
             valid_for_s: float = DAY, plates: tuple[str, ...] = ("桂A12345",),
             codes: tuple[str, ...] | None = None) -> dict[str, object]:
    """The fields of a manifest (``codes``: one made up, with a right check digit, by default)."""
    import random

    codes = codes if codes is not None else (container_code(random.Random(consignment)),)
    return manifest_fields(consignment, version, plates, codes, time.time() + valid_for_s, flagged)
