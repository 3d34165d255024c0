"""The pass trust list: issuer keys by key id, plain JSON or signed by a root key (docs/pass-format.md).

A signed trust list is a COSE_Sign1 (``cose.sign1``) made with the root key, whose payload is the
trust list's JSON and whose protected header carries the content type :data:`CONTENT_TYPE`. Its
``sequence`` only ever grows: a controller takes a list only if its sequence is above the one it holds.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import cose

CONTENT_TYPE = "application/gatecore.pass-trust+json"


class TrustListError(ValueError):
    """The trust list cannot be used (location and reason in the message, never a key's contents)."""


class TrustedKey(BaseModel):
    """One issuer key: who it belongs to, when it may sign, whether it is revoked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kid: str = Field(description="key id, hex (first 8 bytes of SHA-256 of the SPKI DER)")
    issuer: str = Field(min_length=1, max_length=64)
    alg: Literal["EdDSA", "ES256"]
    public_key: str = Field(description="SubjectPublicKeyInfo DER, base64")
    not_before: datetime
    not_after: datetime
    revoked: bool = False

    @field_validator("not_before", "not_after")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamps need a timezone (e.g. 2026-01-01T00:00:00Z)")
        return value

    def key(self) -> cose.PublicKey:
        loaded = serialization.load_der_public_key(base64.b64decode(self.public_key))
        if not isinstance(loaded, cose.PublicKey):
            raise ValueError(f"key {self.kid}: not an Ed25519 or EC key")
        if cose.ALG_NAMES[cose.alg_for(loaded)] != self.alg:
            raise ValueError(f"key {self.kid}: key type does not match alg {self.alg}")
        return loaded


class TrustListModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = Field(1, description="format version")
    sequence: int = Field(0, ge=0, description="grows with every issue of the list (a signed list is taken only "
                                               "when its sequence is above the one held)")
    keys: list[TrustedKey] = Field(default_factory=list)


@dataclass(frozen=True)
class TrustList:
    """Issuer keys by key id, loaded once and used offline; ``signed`` is the root-signed form, if any."""

    entries: dict[bytes, tuple[TrustedKey, cose.PublicKey]]
    sequence: int = 0
    signed: bytes | None = None

    @classmethod
    def from_model(cls, model: TrustListModel, signed: bytes | None = None) -> TrustList:
        entries: dict[bytes, tuple[TrustedKey, cose.PublicKey]] = {}
        for k in model.keys:
            try:
                entries[bytes.fromhex(k.kid)] = (k, k.key())
            except ValueError as exc:
                raise TrustListError(f"trust list key {k.kid!r}: {exc}") from exc
        return cls(entries, model.sequence, signed)

    @classmethod
    def from_json(cls, data: bytes, where: str, signed: bytes | None = None) -> TrustList:
        try:
            model = TrustListModel.model_validate_json(data)
        except ValidationError as exc:
            raise TrustListError(f"{where}: invalid trust list: {exc}") from exc
        return cls.from_model(model, signed)

    @classmethod
    def from_signed(cls, data: bytes, root: cose.PublicKey, where: str) -> TrustList:
        """A trust list signed by ``root``; :class:`TrustListError` unless the signature verifies."""
        try:
            msg = cose.decode(data)
        except cose.CoseError as exc:
            raise TrustListError(f"{where}: not a signed trust list ({exc})") from exc
        if msg.kid != kid_for(root) or not cose.verify(msg, root) or not cose.low_s(msg):
            raise TrustListError(f"{where}: the signature does not verify with the root key")
        if msg.content_type != CONTENT_TYPE:
            raise TrustListError(f"{where}: signed, but not a trust list (content type)")
        return cls.from_json(msg.payload, where, signed=data)

    @classmethod
    def load(cls, path: str | Path, root: cose.PublicKey | None = None) -> TrustList:
        """The trust list file: JSON, or (with ``root``) a list signed by the root key."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise TrustListError(f"{path}: cannot read trust list: {exc}") from exc
        if root is not None:
            return cls.from_signed(data, root, str(path))
        if data[:1] == bytes([0xD2]):  # a tagged COSE_Sign1
            raise TrustListError(f"{path}: a signed trust list needs trust_root (the root's public key)")
        return cls.from_json(data, str(path))


def sign_trust_list(model: TrustListModel, root: cose.PrivateKey) -> bytes:
    """The signed form of ``model``, as controllers take it from a file or over the broker."""
    payload = json.dumps(model.model_dump(mode="json"), separators=(",", ":")).encode()
    return cose.sign1(payload, root, kid_for(root.public_key()), content_type=CONTENT_TYPE)


def load_root(path: str | Path) -> cose.PublicKey:
    """The root's public key (PEM SubjectPublicKeyInfo, Ed25519 or P-256); :class:`TrustListError` otherwise."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except OSError as exc:
        raise TrustListError(f"{path}: cannot read the root key: {exc}") from exc
    except ValueError as exc:
        raise TrustListError(f"{path}: not a PEM public key") from exc
    if not isinstance(key, cose.PublicKey):
        raise TrustListError(f"{path}: the root key must be Ed25519 or P-256")
    try:
        cose.alg_for(key)
    except cose.CoseError as exc:
        raise TrustListError(f"{path}: {exc}") from exc
    return key


def kid_for(public_key: cose.PublicKey) -> bytes:
    """The key id: the first 8 bytes of SHA-256 over the SubjectPublicKeyInfo DER (as the DCC)."""
    return hashlib.sha256(_spki(public_key)).digest()[:8]


def _spki(public_key: cose.PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def trusted_key(public_key: cose.PublicKey, issuer: str, not_before: datetime, not_after: datetime,
                revoked: bool = False) -> TrustedKey:
    """A trust-list entry for ``public_key``."""
    alg: Literal["EdDSA", "ES256"] = "EdDSA" if cose.alg_for(public_key) == cose.ALG_EDDSA else "ES256"
    return TrustedKey(kid=kid_for(public_key).hex(), issuer=issuer, alg=alg,
                      public_key=base64.b64encode(_spki(public_key)).decode(),
                      not_before=not_before, not_after=not_after, revoked=revoked)


def trust_list_json(keys: list[TrustedKey], sequence: int = 0) -> str:
    """Serialize a trust list (for the CLI and tests)."""
    return json.dumps(TrustListModel(sequence=sequence, keys=keys).model_dump(mode="json"), indent=2)
