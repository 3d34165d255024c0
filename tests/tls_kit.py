"""Throwaway TLS for tests: a CA, and server and client certificates it signs (ECDSA P-256, one day), made
with ``cryptography``; the server's names 127.0.0.1 and localhost."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def issue(name: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
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


def write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    path.with_suffix(".key").chmod(0o644)  # the broker may run as another user
    return str(path.with_suffix(".pem")), str(path.with_suffix(".key"))


def make_pki(directory: Path, clients: tuple[str, ...] = ("client",)) -> dict[str, str]:
    """``ca``, ``server``/``server_key`` and, per client name, ``NAME``/``NAME_key`` file paths."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue("gatecore test CA", ca_key, None, ca=True)
    files = {"ca": write(directory / "ca", ca, ca_key)[0]}
    for name in ("server", *clients):
        key = ec.generate_private_key(ec.SECP256R1())
        files[name], files[name + "_key"] = write(directory / name, issue(name, key, (ca.subject, ca_key)), key)
    return files
