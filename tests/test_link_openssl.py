"""The signature suites against an independent implementation: OpenSSL 3's command line (SM2 with SM3, the
default distinguishing id of GM/T 0009, and Ed25519). Each verifies the other's signatures, over the very
bytes a message's signature covers, and each refuses them over altered bytes."""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from gate_link.canonical import encode, signing_input
from gate_link.messages import example, time_text
from gate_link.suites import PrivateKey, Suite, generate, load_private
from gate_link.trust import TrustList, trust_document, trusted_key
from gate_link.verify import authenticate

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
DISTID = "distid:1234567812345678"


def openssl(*args: str | Path, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], input=data, capture_output=True, timeout=30, check=False)


def openssl_verify(suite: Suite, public: Path, data: Path, signature: Path) -> bool:
    if suite == "sm2":
        result = openssl("dgst", "-sm3", "-sigopt", DISTID, "-verify", public, "-signature", signature, data)
    else:
        result = openssl("pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", public, "-in", data, "-sigfile", signature)
    return result.returncode == 0


def openssl_sign(suite: Suite, key: Path, data: Path, out: Path) -> None:
    if suite == "sm2":
        result = openssl("dgst", "-sm3", "-sigopt", DISTID, "-sign", key, "-out", out, data)
    else:
        result = openssl("pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", data, "-out", out)
    assert result.returncode == 0, result.stderr


def message_bytes() -> tuple[dict[str, object], bytes]:
    """A manifest as it travels, with its signature's suite and key id, and the bytes a signature covers."""
    data = {**example("manifest", time.time()), "sent": time_text(time.time()),
            "signature": {"suite": "sm2", "kid": "dx-1"}}
    return data, signing_input(data, validated=True)


@pytest.mark.parametrize("suite", ["sm2", "ed25519"])
def test_openssl_verifies_our_signatures_and_refuses_them_over_altered_bytes(tmp_path: Path, suite: Suite) -> None:
    key = generate(suite, "dx-1")
    (tmp_path / "pub.pem").write_bytes(key.public().pem())
    _, covered = message_bytes()
    (tmp_path / "msg").write_bytes(covered)
    (tmp_path / "altered").write_bytes(covered.replace(b'"version":1', b'"version":2'))
    for i in range(3):  # SM2 signatures are randomised: a few of them
        (tmp_path / "sig").write_bytes(key.sign(covered))
        assert openssl_verify(suite, tmp_path / "pub.pem", tmp_path / "msg", tmp_path / "sig"), i
        assert not openssl_verify(suite, tmp_path / "pub.pem", tmp_path / "altered", tmp_path / "sig")


@pytest.mark.parametrize("suite", ["sm2", "ed25519"])
def test_we_verify_a_message_openssl_signed_with_a_key_openssl_made(tmp_path: Path, suite: Suite) -> None:
    made = openssl("genpkey", "-algorithm", "SM2" if suite == "sm2" else "ED25519", "-out", tmp_path / "key.pem")
    assert made.returncode == 0, made.stderr
    key: PrivateKey = load_private((tmp_path / "key.pem").read_bytes(), "dx-1")
    assert key.suite == suite
    data, covered = message_bytes()
    data["signature"] = {"suite": suite, "kid": "dx-1"}
    covered = signing_input(data, validated=True)
    (tmp_path / "msg").write_bytes(covered)
    openssl_sign(suite, tmp_path / "key.pem", tmp_path / "msg", tmp_path / "sig")
    signature = (tmp_path / "sig").read_bytes()
    assert key.public().verify(signature, covered)
    assert not key.public().verify(signature, covered + b" ")
    now = time.time()
    trust = TrustList.from_data(trust_document([trusted_key(key.public(), "dx-1", "dongxing", now - 60, now + 60)],
                                               key, 1, now), None, "openssl")
    wire = {**data, "signature": {"suite": suite, "kid": "dx-1", "value": base64.b64encode(signature).decode()}}
    assert authenticate(encode(wire), trust).key.row.kid == "dx-1"
