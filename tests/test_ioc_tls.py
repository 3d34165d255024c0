"""The IOC link over TLS with a client certificate and a password from a secret reference, against a real
Mosquitto that requires both; a wrong password never connects and nothing is marked delivered."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gate_ioc.config import IocSection
from gate_ioc.reporter import make_transport
from gate_ioc.testing import Broker
from gatecore.outbox import Outbox

from .tls_kit import make_pki


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, str]:
    return make_pki(tmp_path)


@pytest.fixture
def tls_broker(tmp_path: Path, pki: dict[str, str]) -> Iterator[Broker]:
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "gate", "s3cret"], check=True)
    passwords.chmod(0o644)
    extra = "\n".join([f"cafile {pki['ca']}", f"certfile {pki['server']}", f"keyfile {pki['server_key']}",
                       "require_certificate true", "allow_anonymous false", f"password_file {passwords}"])
    broker = Broker(tmp_path / "mosquitto", extra=extra, durable_sessions=False)
    broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true\n", ""))
    broker.start()
    yield broker
    broker.stop()


def section(broker: Broker, pki: dict[str, str], secret: Path, tmp: Path) -> IocSection:
    return IocSection.model_validate({
        "transport": "mqtt", "broker": f"mqtts://localhost:{broker.port}", "protocol": "5",
        "username": "gate", "password": f"file:{secret}", "client_id": "gatecore-tls-test", "keepalive_s": 10,
        "tls": {"ca_file": pki["ca"], "cert_file": pki["client"], "key_file": pki["client_key"]},
        "outbox": {"path": str(tmp / "box.sqlite")},
    })


async def deliver(cfg: IocSection, tmp: Path, n: int, wait: float) -> tuple[int, int, int]:
    transport, keeper = make_transport(cfg, "mong-cai/tls")
    assert keeper is not None
    async with Outbox(tmp / "box.sqlite", backoff_max_s=0.2) as box:
        tasks = [asyncio.create_task(keeper), asyncio.create_task(box.deliver(transport))]
        for i in range(n):
            await box.put("bl1-egate-1", "decision", b'{"schema":"gatecore.ioc.decision/1","n":%d}' % i)
        await box.wait_idle(wait)
        pending = (await box.status()).pending
        for t in tasks:
            t.cancel()
        await asyncio.wait(tasks, timeout=5)
    return box.delivered, pending, getattr(transport, "connects", 0)


@pytest.mark.parametrize(("password", "n", "wait", "expected"), [
    ("s3cret", 50, 20.0, (50, 0, 1)),  # delivered, pending, connections
    ("wrong", 5, 1.5, (0, 5, 0)),
], ids=["right-password-delivers", "wrong-password-never-connects"])
async def test_tls_with_client_certificate_and_password_from_a_secret_reference(
    tls_broker: Broker, pki: dict[str, str], tmp_path: Path, password: str, n: int, wait: float,
    expected: tuple[int, int, int],
) -> None:
    secret = tmp_path / "ioc-password"
    secret.write_text(password + "\n")
    assert await deliver(section(tls_broker, pki, secret, tmp_path), tmp_path, n, wait) == expected
