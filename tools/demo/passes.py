"""Demo pass issuer, trust list and passes (valid, expired, forged), and QR frames of them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from cryptography.hazmat.primitives.asymmetric import ed25519

from gate_barcode.passes import Issuer
from gate_barcode.synth import render
from gate_barcode.trust import trust_list_json, trusted_key

ISSUER = "VN-MC"
#: fixed dates, so a build is the same whenever it runs: keys 2025-2040, valid passes 2026-2036
KEY_FROM, KEY_TO = datetime(2025, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC)
VALID = (int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()), int(datetime(2036, 1, 1, tzinfo=UTC).timestamp()))
EXPIRED = (int(datetime(2025, 1, 1, tzinfo=UTC).timestamp()), int(datetime(2025, 6, 1, tzinfo=UTC).timestamp()))


def _key(seed: int, name: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"demo/{seed}/{name}".encode()).digest())


@dataclass(frozen=True)
class _Forger(Issuer):
    """Signs with its own key but names the genuine issuer's key id: the signature cannot verify."""

    claimed_kid: bytes = b""

    @property
    def kid(self) -> bytes:
        return self.claimed_kid


@dataclass(frozen=True)
class Passes:
    issuer: Issuer
    forger: _Forger
    stranger: Issuer  # a key on no trust list

    @classmethod
    def for_seed(cls, seed: int) -> Passes:
        issuer = Issuer(ISSUER, _key(seed, "issuer"))
        return cls(issuer, _Forger(ISSUER, _key(seed, "forger"), issuer.kid), Issuer(ISSUER, _key(seed, "stranger")))

    def trust_list(self) -> str:
        return trust_list_json([trusted_key(self.issuer.key.public_key(), ISSUER, KEY_FROM, KEY_TO)])

    def issue(self, subject: str, kind: str, number: int) -> str:
        """The pass text of ``kind``: valid, expired, or forged (every other forged pass by a stranger's key,
        whose issuer is unknown, the others under the genuine key id)."""
        pass_id = hashlib.sha256(f"pass/{subject}/{kind}".encode()).digest()[:16]
        nbf, exp = EXPIRED if kind == "expired" else VALID
        signer = self.issuer if kind != "forged" else (self.forger if number % 2 else self.stranger)
        return signer.issue(subject, "traveller", nbf, exp, issued_at=nbf, pass_id=pass_id)


def pass_frame(text: str, seed: int, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A lane camera's frame of a pass held up: the QR code on a phone-like card over a shaded backdrop."""
    rng = np.random.default_rng(seed)
    w, h = size
    small = rng.integers(60, 160, (h // 40 + 2, w // 40 + 2)).astype(np.float32)
    frame = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    code = render(text, "QRCode", scale=3).astype(np.float32)
    ch, cw = code.shape
    y0 = int(rng.integers(20, max(21, h - ch - 20)))
    x0 = int(rng.integers(20, max(21, w - cw - 20)))
    frame[y0:y0 + ch, x0:x0 + cw] = code
    frame += rng.normal(0, 3, frame.shape).astype(np.float32)
    grey = np.clip(frame, 0, 255).astype(np.uint8)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def write(out: Path, passes: Passes) -> Path:
    path = out / "trust-list.json"
    path.write_text(passes.trust_list())
    return path
