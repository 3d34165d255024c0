"""The link through a real Mosquitto on 127.0.0.1 with TLS and client certificates: every misbehaviour of the
partner is refused or handled as specified, counted by its reason, and nothing refused is applied."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from gate_ioc.testing import Broker
from gate_link.mqtt import MqttSettings, MqttWire

from .link_kit import DX, MC, Link, applied, manifest, new_link, running_link, serving, tls_broker, wait_until


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, dict[str, str]]]:
    b, pki = tls_broker(tmp_path_factory.mktemp("link-broker"))
    b.start()
    yield b, pki
    b.stop()


async def test_a_manifest_is_applied_once_and_its_receipt_completes_it(
        broker: tuple[Broker, dict[str, str]], tmp_path: Path) -> None:
    """Through the outbox: applied, receipted, and the partner's outbox is empty once the receipt came."""
    async with running_link(*broker, tmp_path) as link:
        assert link.ctl is not None and link.sim is not None
        mid = await link.sim.endpoint.send("manifest", **manifest())
        assert await link.sim.endpoint.drained(15)
        assert [row[0] for row in await applied(link.ctl)] == [mid]
        assert link.sim.endpoint.counts() == {"receipt": 1}
        assert link.ctl.counts() == {"applied": 1}


# mode -> (the reason counted, manifests applied, what the partner gets back: receipts)
CASES = {
    "forged": ("forged", 0, 0),
    "unknown_key": ("unknown_key", 0, 0),
    "revoked": ("revoked", 0, 0),
    "expired": ("expired", 0, 0),
    "skew": ("skew", 0, 0),
    "replay": ("replay", 1, 1),
    "duplicate": ("duplicate", 1, 2),
    "out_of_order": ("stale", 1, 2),
}


@pytest.mark.parametrize("mode", list(CASES))
async def test_a_misbehaving_partner_is_refused_or_handled_with_a_counted_reason(
        broker: tuple[Broker, dict[str, str]], tmp_path: Path, mode: str) -> None:
    reason, n_applied, receipts = CASES[mode]
    async with running_link(*broker, tmp_path) as link:
        assert link.ctl is not None and link.sim is not None
        fields = manifest(version=5)
        await link.sim.misbehave(mode, fields, window_s=link.settings.window_s)
        await wait_until(lambda: link.ctl.counts().get(reason, 0) >= 1)
        await wait_until(lambda: link.sim.endpoint.counts().get("receipt", 0) >= receipts)
        rows = await applied(link.ctl)
        assert len(rows) == n_applied
        if mode == "out_of_order":  # the newer update stays: the older one, come later, is stale
            assert rows[0][3] == 6
        assert link.ctl.counts()[reason] == 1
        assert sum(link.ctl.counts().values()) == {"replay": 2, "duplicate": 2, "out_of_order": 2}.get(mode, 1)


async def test_a_replay_is_refused_after_the_controller_restarts(
        broker: tuple[Broker, dict[str, str]], tmp_path: Path) -> None:
    """The replay store is on disk: the same transmission again, after a restart, is counted and not applied."""
    async with running_link(*broker, tmp_path) as link:
        assert link.ctl is not None and link.sim is not None
        payload = await link.sim.transmit(link.sim.message("manifest", **manifest()))
        await wait_until(lambda: link.ctl.counts().get("applied") == 1)
    link2 = Link(link.broker, link.pki, link.keys, tmp_path, link.prefix, link.settings)
    sim = link2.partner()
    async with serving(link2.controller()) as ctl, serving(sim.endpoint):
        await sim.again(payload)
        await wait_until(lambda: ctl.counts().get("replay") == 1)
        assert len(await applied(ctl)) == 1
        assert ctl.counts() == {"replay": 1}


async def test_clock_skew_of_the_controller_refuses_the_partner_both_ways(
        broker: tuple[Broker, dict[str, str]], tmp_path: Path) -> None:
    """A message from a partner whose clock is ahead by more than the window, and one behind, are refused."""
    async with running_link(*broker, tmp_path) as link:
        assert link.ctl is not None and link.sim is not None
        window = link.settings.window_s
        await link.sim.transmit(link.sim.message("manifest", **manifest("DX-A")), skew_s=window + 5)
        await link.sim.transmit(link.sim.message("manifest", **manifest("DX-B")), skew_s=-window - 5)
        await link.sim.transmit(link.sim.message("manifest", **manifest("DX-C")), skew_s=window - 30)
        await wait_until(lambda: sum(link.ctl.counts().values()) == 3)
        assert link.ctl.counts() == {"skew": 2, "applied": 1}
        assert [row[2] for row in await applied(link.ctl)] == ["consignment:DX-C"]


async def test_messages_wait_while_the_partner_is_silent_and_arrive_when_it_is_back(
        broker: tuple[Broker, dict[str, str]], tmp_path: Path) -> None:
    """Silence (the partner away): the controller's clearances stay in its outbox, sent again after each receipt
    timeout, never lost; once the partner is back each is applied once and receipted."""
    link = new_link(*broker, tmp_path)
    async with serving(link.controller()) as ctl:
        for i in range(20):
            await ctl.send("clearance", consignment=f"DX-{i % 4}", version=i + 1, lane="cargo-in-1",
                           outcome="pass", reasons=["matched"], decided="2026-11-27T18:00:00Z")
        assert not await ctl.drained(2.5)
        assert (await ctl.outbox.status()).pending == 20
        async with serving(link.partner().endpoint) as partner:
            assert await ctl.drained(20)
            rows = await applied(partner, "clearance")
    assert sorted(row[3] for row in rows) == list(range(1, 21))
    assert [row[3] for row in rows if row[2] == "consignment:DX-1"] == [2, 6, 10, 14, 18]  # in order


async def test_a_client_without_a_certificate_is_not_let_in(broker: tuple[Broker, dict[str, str]]) -> None:
    b, pki = broker
    no_cert = ssl.create_default_context(cafile=pki["ca"])
    stranger = MqttWire(MqttSettings("127.0.0.1", b.port, MC, DX, "x", "x-no-cert", no_cert, reconnect_max_s=0.2))
    task = asyncio.create_task(stranger.run(asyncio.Queue()))
    await asyncio.sleep(1.5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert stranger.connects == 0
