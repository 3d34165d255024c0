"""Signed border passes: issue and verify entirely offline (format: docs/pass-format.md).

``GP1:`` + Base45( zlib( COSE_Sign1( CBOR claims ) ) ), modelled on the EU DCC (HCERT).
:func:`verify` never raises on bad input: every outcome is a :class:`PassResult` with a
:class:`Reason`.  The replay rule needs the lanes and the decisions, so it lives in
:mod:`gate_barcode.replay`; the issuer keys are in :mod:`gate_barcode.trust`.
"""

from __future__ import annotations

import hashlib
import os
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import base45  # type: ignore[import-untyped]
import cbor2

from . import cose
from .trust import TrustList, kid_for

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
    WRONG_SITE = "wrong_site"  # genuine, but its site claim names another crossing
    REPLAY = "replay"  # the same pass accepted at another lane of the group within the replay window


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
    Reason.WRONG_SITE: "DENY",  # valid elsewhere, never here: nothing an officer at this lane can check
    Reason.REPLAY: "REFER",
}

#: the reasons given after the signature verified: the claims, and so the pass id, are the issuer's
SIGNED_REASONS = frozenset({Reason.OK, Reason.WRONG_ISSUER, Reason.REVOKED_KEY, Reason.KEY_NOT_VALID,
                            Reason.EXPIRED, Reason.NOT_YET_VALID, Reason.WRONG_SITE, Reason.REPLAY})


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
    if inflater.unused_data:
        raise _Reject(Reason.MALFORMED, "bytes after the zlib stream")
    return raw


def verify(text: str, trust: TrustList, now: float | None = None, leeway_s: int = 60,
           site: str | None = None) -> PassResult:
    """Verify one scanned text offline.  Never raises for bad input; see :class:`Reason`.

    With ``site`` (this crossing's code), a pass whose ``site`` claim names another is ``WRONG_SITE``;
    a pass without a site claim is valid at any crossing.
    """
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
    if not cose.low_s(msg):
        return PassResult(Reason.MALFORMED, fallback, kid=kid, detail="ES256 signature not in its low-S form")
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
        (site is not None and claims.site is not None and claims.site != site, Reason.WRONG_SITE,
         "the pass is for another crossing"),
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
