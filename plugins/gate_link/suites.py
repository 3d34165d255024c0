"""The two signature suites of the link: Ed25519 (``cryptography``) and SM2 with SM3 (``tongsuopy``).

``tongsuopy`` is the Tongsuo project's Python SDK: Tongsuo is the OpenSSL fork maintained under the
OpenAtom Foundation that carries China's commercial-cryptography algorithms, and its SDK keeps the API of
``cryptography``, so both suites read and write keys the same way (PKCS#8 and SubjectPublicKeyInfo PEM, the
forms OpenSSL 3 uses for SM2 keys too). An SM2 signature is DER (``ECDSA-Sig-Value``), made over the SM3 hash
of Z || message with the default distinguishing id of GM/T 0009 (``1234567812345678``), as OpenSSL makes it
with ``-sigopt distid:1234567812345678``. Ed25519 signatures are the 64 raw bytes.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Suite = Literal["ed25519", "sm2"]
SUITES: tuple[Suite, ...] = ("ed25519", "sm2")


class KeyError_(ValueError):
    """A key cannot be used: not PEM, not a key of a known suite, or of another suite than said."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A public key of one suite, as a trust list holds it."""

    suite: Suite
    key: Any

    def verify(self, signature: bytes, data: bytes) -> bool:
        return _verify(self, signature, data)

    def spki(self) -> bytes:
        return _public_bytes(self, der=True)

    def pem(self) -> bytes:
        return _public_bytes(self, der=False)


@dataclass(frozen=True, slots=True)
class PrivateKey:
    """A private key of one suite with the id it is known by in trust lists."""

    suite: Suite
    key: Any
    kid: str

    def sign(self, data: bytes) -> bytes:
        if self.suite == "ed25519":
            signature: bytes = self.key.sign(data)
            return signature
        _, ec, hashes, _ = _sm2()
        return bytes(self.key.sign(data, ec.ECDSA(hashes.SM3())))

    def public(self) -> PublicKey:
        return PublicKey(self.suite, self.key.public_key())

    def pem(self) -> bytes:
        ser = _serialization(self.suite)
        return bytes(self.key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()))


def _sm2() -> tuple[Any, Any, Any, Any]:
    """tongsuopy's modules (imported only when an SM2 key is used)."""
    try:
        from tongsuopy.crypto import exceptions, hashes, serialization  # type: ignore[import-untyped]
        from tongsuopy.crypto.asymciphers import ec  # type: ignore[import-untyped]
    except ImportError as exc:  # an optional dependency: say how to get it
        raise KeyError_("the sm2 suite needs tongsuopy (pip install 'gatecore[link]')") from exc
    return serialization, ec, hashes, exceptions


def _serialization(suite: Suite) -> Any:
    if suite == "sm2":
        return _sm2()[0]
    from cryptography.hazmat.primitives import serialization

    return serialization


def generate(suite: Suite, kid: str) -> PrivateKey:
    if suite == "ed25519":
        from cryptography.hazmat.primitives.asymmetric import ed25519

        return PrivateKey(suite, ed25519.Ed25519PrivateKey.generate(), kid)
    _, ec, _, _ = _sm2()
    return PrivateKey(suite, ec.generate_private_key(ec.SM2()), kid)


def load_private(pem: bytes, kid: str) -> PrivateKey:
    """A PKCS#8 PEM private key (no passphrase) of either suite."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None  # cryptography does not know the SM2 curve: try tongsuopy
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return PrivateKey("ed25519", key, kid)
    if key is not None:
        raise KeyError_("not an Ed25519 or SM2 private key")
    ser, ec, _, _ = _sm2()
    try:
        sm2 = ser.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise KeyError_("not a PEM private key without a passphrase") from None
    if not isinstance(getattr(sm2, "curve", None), ec.SM2):
        raise KeyError_("not an Ed25519 or SM2 private key")
    return PrivateKey("sm2", sm2, kid)


def load_public(suite: Suite, der: bytes) -> PublicKey:
    """A SubjectPublicKeyInfo (DER) of ``suite``."""
    if suite == "ed25519":
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise KeyError_("not an Ed25519 SubjectPublicKeyInfo") from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise KeyError_("not an Ed25519 public key")
        return PublicKey(suite, key)
    ser, ec, _, _ = _sm2()
    try:
        sm2 = ser.load_der_public_key(der)
    except (ValueError, TypeError):
        raise KeyError_("not a SubjectPublicKeyInfo") from None
    if not isinstance(getattr(sm2, "curve", None), ec.SM2):
        raise KeyError_("not an SM2 public key")
    return PublicKey(suite, sm2)


def load_public_pem(pem: bytes) -> PublicKey:
    """A PEM SubjectPublicKeyInfo of either suite (a trust root, a ``.pub`` file)."""
    lines = [line for line in pem.strip().splitlines() if line and not line.startswith(b"-----")]
    try:
        der = base64.b64decode(b"".join(lines), validate=True)
    except ValueError:
        raise KeyError_("not a PEM public key") from None
    for suite in SUITES:
        try:
            return load_public(suite, der)
        except KeyError_:
            continue
    raise KeyError_("not an Ed25519 or SM2 public key")


def _verify(public: PublicKey, signature: bytes, data: bytes) -> bool:
    if public.suite == "ed25519":
        from cryptography.exceptions import InvalidSignature

        try:
            public.key.verify(signature, data)
        except InvalidSignature:
            return False
        return True
    if not _canonical_der(signature):
        return False
    _, ec, hashes, exceptions = _sm2()
    try:
        public.key.verify(signature, data, ec.ECDSA(hashes.SM3()))
    except (exceptions.InvalidSignature, exceptions.InternalError, ValueError):
        return False
    return True


_SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123  # the order of the SM2 curve


def _canonical_der(signature: bytes) -> bool:
    """``signature`` is the one DER encoding of two integers in [1, n-1] (anything else is refused before the
    library sees it: no second encoding of the same signature passes)."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

    if len(signature) > 72:
        return False
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        return False
    return 0 < r < _SM2_N and 0 < s < _SM2_N and encode_dss_signature(r, s) == signature


def _public_bytes(public: PublicKey, der: bool) -> bytes:
    ser = _serialization(public.suite)
    encoding = ser.Encoding.DER if der else ser.Encoding.PEM
    return bytes(public.key.public_bytes(encoding, ser.PublicFormat.SubjectPublicKeyInfo))


def write_private(path: Path, key: PrivateKey) -> None:
    """Write ``key`` to ``path`` (which must not exist), readable by its owner only (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.pem())
