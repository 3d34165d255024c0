"""Signed border passes: issue and verify entirely offline (format: docs/pass-format.md).

``GP1:`` + Base45( zlib( COSE_Sign1( CBOR claims ) ) ), modelled on the EU DCC (HCERT).
:func:`verify` never raises on bad input: every outcome is a :class:`PassResult` with a
:class:`Reason`.  The replay rule needs the lane, so it lives in :class:`ReplayGuard`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import base45  # type: ignore[import-untyped]
import cbor2
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import cose

PREFIX = "GP1:"
VERSION = 1
MAX_TEXT = 4096  # characters of QR text accepted at all
MAX_INFLATED = 16384  # bytes a payload may inflate to (zip bombs stop here)
PASS_TYPES = ("resident", "traveller", "driver", "consignment")

# CWT claim keys (RFC 8392) and the private claim that carries the pass (as HCERT's -260)
CLAIM_ISS, CLAIM_EXP, CLAIM_NBF, CLAIM_IAT, CLAIM_CTI = 1, 4, 5, 6, 7
CLAIM_PASS = -260
PASS_BODY = 1


class Reason(StrEnum):
    """Why a pass was accepted or rejected (stable strings: they go into decision records)."""

    OK = "ok"
    MALFORMED = "malformed"  # prefix, Base45, zlib, CBOR or COSE structure is broken
    UNSUPPORTED_VERSION = "unsupported_version"  # a GPn: prefix this verifier does not know
    UNKNOWN_ISSUER = "unknown_issuer"  # key id not on the trust list
    BAD_SIGNATURE = "bad_signature"  # signature does not verify (forged or altered)
    WRONG_ISSUER = "wrong_issuer"  # signed by a trusted key, but the iss claim names another issuer
    REVOKED_KEY = "revoked_key"
    KEY_NOT_VALID = "key_not_valid"  # issued outside the signing key's validity period
    BAD_CLAIMS = "bad_claims"  # signed, but the claims are missing or of the wrong type
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REPLAY = "replay"  # the same pass at another lane within the replay window


#: default outcome per reason; a profile may not weaken OK/BAD_SIGNATURE (see the plugin)
DEFAULT_OUTCOMES: dict[Reason, Literal["PASS", "DENY", "REFER"]] = {
    Reason.OK: "PASS",
    Reason.MALFORMED: "REFER",  # usually a bad scan: rescan or an officer looks
    Reason.UNSUPPORTED_VERSION: "REFER",
    Reason.UNKNOWN_ISSUER: "REFER",  # the trust list may be behind: an officer decides
    Reason.BAD_SIGNATURE: "DENY",
    Reason.WRONG_ISSUER: "DENY",
    Reason.REVOKED_KEY: "DENY",
    Reason.KEY_NOT_VALID: "DENY",
    Reason.BAD_CLAIMS: "DENY",
    Reason.EXPIRED: "DENY",
    Reason.NOT_YET_VALID: "REFER",  # a clock or a traveller a day early: an officer decides
    Reason.REPLAY: "REFER",
}


@dataclass(frozen=True)
class PassClaims:
    """What a verified pass says.  ``subject`` is an opaque identity reference, never a name."""

    pass_id: bytes
    issuer: str
    subject: str
    pass_type: str
    issued_at: int
    not_before: int
    expires: int
    site: str | None = None
    ref: str | None = None


@dataclass(frozen=True)
class PassResult:
    """The verdict on one scanned text; ``id_hash`` is the only part of a pass fit for logs."""

    reason: Reason
    id_hash: str
    claims: PassClaims | None = None
    kid: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is Reason.OK


def id_hash(data: bytes) -> str:
    """Short, stable, non-reversible reference to a pass (or to unparseable scanned text)."""
    return hashlib.sha256(b"gatecore-pass:" + data).hexdigest()[:16]


# ---------------------------------------------------------------- trust list

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

    version: Literal[1] = 1
    keys: list[TrustedKey] = Field(default_factory=list)


class TrustListError(ValueError):
    """The trust list file cannot be used (location and reason in the message)."""


@dataclass(frozen=True)
class TrustList:
    """Issuer keys by key id, loaded once and used offline."""

    entries: dict[bytes, tuple[TrustedKey, cose.PublicKey]]

    @classmethod
    def from_model(cls, model: TrustListModel) -> TrustList:
        entries: dict[bytes, tuple[TrustedKey, cose.PublicKey]] = {}
        for k in model.keys:
            try:
                entries[bytes.fromhex(k.kid)] = (k, k.key())
            except ValueError as exc:
                raise TrustListError(f"trust list key {k.kid!r}: {exc}") from exc
        return cls(entries)

    @classmethod
    def load(cls, path: str | Path) -> TrustList:
        try:
            model = TrustListModel.model_validate_json(Path(path).read_bytes())
        except OSError as exc:
            raise TrustListError(f"{path}: cannot read trust list: {exc}") from exc
        except ValidationError as exc:
            raise TrustListError(f"{path}: invalid trust list: {exc}") from exc
        return cls.from_model(model)


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


# ---------------------------------------------------------------- issuing

@dataclass(frozen=True)
class Issuer:
    """A (test or real) pass issuer: an issuer code and its signing key."""

    issuer: str
    key: cose.PrivateKey

    @property
    def kid(self) -> bytes:
        return kid_for(self.key.public_key())

    def issue(self, subject: str, pass_type: str, not_before: int, expires: int,
              issued_at: int | None = None, pass_id: bytes | None = None,
              site: str | None = None, ref: str | None = None, claims_override: dict[int, Any] | None = None) -> str:
        """Sign a pass and return its QR text.  ``claims_override`` exists for negative tests."""
        if pass_type not in PASS_TYPES:
            raise ValueError(f"pass type {pass_type!r} is not one of {PASS_TYPES}")
        body: dict[str, Any] = {"v": VERSION, "t": pass_type, "sub": subject}
        if site is not None:
            body["site"] = site
        if ref is not None:
            body["ref"] = ref
        claims: dict[int, Any] = {
            CLAIM_ISS: self.issuer,
            CLAIM_IAT: int(time.time()) if issued_at is None else issued_at,
            CLAIM_NBF: not_before,
            CLAIM_EXP: expires,
            CLAIM_CTI: pass_id or os.urandom(16),
            CLAIM_PASS: {PASS_BODY: body},
        }
        claims.update(claims_override or {})
        return encode(cose.sign1(cbor2.dumps(claims), self.key, self.kid))


def encode(cose_bytes: bytes) -> str:
    """COSE bytes -> QR text (zlib at level 9, Base45, prefix)."""
    packed: bytes = base45.b45encode(zlib.compress(cose_bytes, 9))
    return PREFIX + packed.decode("ascii")


# ---------------------------------------------------------------- verifying

class _Reject(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def unwrap(text: str) -> bytes:
    """QR text -> COSE bytes, or :class:`_Reject` with the reason."""
    if len(text) > MAX_TEXT:
        raise _Reject(Reason.MALFORMED, f"longer than {MAX_TEXT} characters")
    text = text.rstrip("\r\n")
    if not text.startswith(PREFIX):
        head = text[:4]
        if len(head) == 4 and head[:2] == "GP" and head[2].isdigit() and head[3] == ":":
            raise _Reject(Reason.UNSUPPORTED_VERSION, f"prefix {head!r}")
        raise _Reject(Reason.MALFORMED, "no GP1: prefix")
    try:
        packed = base45.b45decode(text[len(PREFIX):])
    except ValueError as exc:
        raise _Reject(Reason.MALFORMED, "not Base45") from exc
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(packed, MAX_INFLATED)
    except zlib.error as exc:
        raise _Reject(Reason.MALFORMED, "not zlib") from exc
    if inflater.unconsumed_tail:
        raise _Reject(Reason.MALFORMED, f"inflates beyond {MAX_INFLATED} bytes")
    if not inflater.eof:
        raise _Reject(Reason.MALFORMED, "zlib stream truncated")
    return raw


def verify(text: str, trust: TrustList, now: float | None = None, leeway_s: int = 60) -> PassResult:
    """Verify one scanned text offline.  Never raises for bad input; see :class:`Reason`."""
    now = time.time() if now is None else now
    fallback = id_hash(text.encode("utf-8", "surrogateescape")[:MAX_TEXT * 4])
    try:
        msg = cose.decode(unwrap(text))
    except _Reject as rej:
        return PassResult(rej.reason, fallback, detail=rej.detail)
    except cose.CoseError as exc:
        return PassResult(Reason.MALFORMED, fallback, detail=str(exc))
    kid = msg.kid.hex()[:32]
    entry = trust.entries.get(msg.kid)
    if entry is None:
        return PassResult(Reason.UNKNOWN_ISSUER, fallback, kid=kid, detail="key id not on the trust list")
    meta, key = entry
    if not cose.verify(msg, key):
        return PassResult(Reason.BAD_SIGNATURE, fallback, kid=kid, detail="signature does not verify")
    try:
        claims = _claims(msg.payload)
    except _Reject as rej:
        return PassResult(rej.reason, fallback, kid=kid, detail=rej.detail)
    ih = id_hash(claims.pass_id)
    checks = (
        (claims.issuer != meta.issuer, Reason.WRONG_ISSUER, "iss claim differs from the key's issuer"),
        (meta.revoked, Reason.REVOKED_KEY, "signing key is revoked"),
        (not meta.not_before.timestamp() <= claims.issued_at <= meta.not_after.timestamp(),
         Reason.KEY_NOT_VALID, "issued outside the key's validity period"),
        (now + leeway_s < claims.not_before, Reason.NOT_YET_VALID, "before not-before"),
        (now - leeway_s >= claims.expires, Reason.EXPIRED, "past expiry"),
    )
    for failed, reason, detail in checks:
        if failed:
            return PassResult(reason, ih, claims, kid, detail)
    return PassResult(Reason.OK, ih, claims, kid)


def _claims(payload: bytes) -> PassClaims:
    try:
        c = cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError, LookupError) as exc:
        raise _Reject(Reason.BAD_CLAIMS, "claims are not CBOR") from exc
    container = c.get(CLAIM_PASS) if isinstance(c, Mapping) else None
    body = container.get(PASS_BODY) if isinstance(container, Mapping) else None
    if not isinstance(body, Mapping):
        raise _Reject(Reason.BAD_CLAIMS, "no pass body")

    def want(obj: Any, typ: type, name: str) -> Any:
        if not isinstance(obj, typ) or isinstance(obj, bool):
            raise _Reject(Reason.BAD_CLAIMS, f"claim {name} missing or not {typ.__name__}")
        return obj

    if body.get("v") != VERSION:
        raise _Reject(Reason.BAD_CLAIMS, "unknown body version")
    pass_type = want(body.get("t"), str, "t")
    if pass_type not in PASS_TYPES:
        raise _Reject(Reason.BAD_CLAIMS, "unknown pass type")
    optional = {k: want(body[k], str, k) for k in ("site", "ref") if k in body}
    cti = want(c.get(CLAIM_CTI), bytes, "cti")
    if not 8 <= len(cti) <= 32:
        raise _Reject(Reason.BAD_CLAIMS, "cti must be 8-32 bytes")
    return PassClaims(
        pass_id=cti, issuer=want(c.get(CLAIM_ISS), str, "iss"), subject=want(body.get("sub"), str, "sub"),
        pass_type=pass_type, issued_at=want(c.get(CLAIM_IAT), int, "iat"),
        not_before=want(c.get(CLAIM_NBF), int, "nbf"), expires=want(c.get(CLAIM_EXP), int, "exp"), **optional)


# ---------------------------------------------------------------- replay across lanes

@dataclass
class ReplayGuard:
    """The same pass at two different lanes within ``window_s`` seconds is a replay.

    A re-scan at the same lane is not (the reader's de-duplication already folds those).
    Times are monotonic seconds passed in by the caller; memory is bounded by pruning.
    """

    window_s: float = 300.0
    max_entries: int = 100_000
    _seen: dict[bytes, tuple[str, float]] = field(default_factory=dict)

    def check(self, pass_id: bytes, lane: str, now: float) -> bool:
        """Record a use of ``pass_id`` at ``lane``; True if it is a replay."""
        last = self._seen.get(pass_id)
        replay = last is not None and last[0] != lane and now - last[1] <= self.window_s
        self._seen[pass_id] = (lane, now)
        if len(self._seen) > self.max_entries:
            self._seen = {k: v for k, v in self._seen.items() if now - v[1] <= self.window_s}
        return replay


def trust_list_json(keys: list[TrustedKey]) -> str:
    """Serialize a trust list (for the CLI and tests)."""
    return json.dumps(TrustListModel(keys=keys).model_dump(mode="json"), indent=2)
