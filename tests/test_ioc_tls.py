"""The IOC link over TLS with a client certificate and a password from a secret reference, against a real
Mosquitto that requires both; a wrong password never connects and nothing is marked delivered."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gate_ioc.config import IocSection
from gate_ioc.reporter import make_transport
from gate_ioc.testing import Broker
from gatecore.outbox import Outbox


def _issue(name: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
           ca: bool = False) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, signer = issuer or (subject, key)
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    path.with_suffix(".key").chmod(0o644)
    return str(path.with_suffix(".pem")), str(path.with_suffix(".key"))


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, str]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("gatecore test CA", ca_key, None, ca=True)
    files = {"ca": _write(tmp_path / "ca", ca, ca_key)[0]}
    for name in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        files[name], files[name + "_key"] = _write(tmp_path / name, _issue(name, key, (ca.subject, ca_key)), key)
    return files


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
