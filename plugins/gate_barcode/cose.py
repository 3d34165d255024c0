"""COSE_Sign1 (RFC 9052) with EdDSA/Ed25519 and ES256, built on cbor2 and cryptography.

Why not pycose: pycose 1.1.0 (its latest release) cannot decode any COSE message with
cbor2 >= 6, which decodes CBOR arrays as tuples (TimothyClaeys/pycose#141, open, no fix
released).  Sign1 is small enough to do correctly here: the structure is a tagged 4-array,
the signed bytes are the ``Sig_structure`` of RFC 9052 §4.4 and the ECDSA signature is the
fixed-length ``r || s`` of RFC 9053 §2.1.  The tests check interoperability with pycose's
encoder and its signature verifier.

Only one encoding of a message is accepted: the tagged array exactly as :func:`sign1` writes it (no
trailing bytes, no longer-than-needed CBOR heads, no indefinite lengths), and an ES256 signature only
with its low ``s`` (``s <= n/2``; ``n - s`` verifies mathematically too, so without this rule every
ES256 pass would have a second encoding).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

SIGN1_TAG = 18
HDR_ALG = 1
HDR_KID = 4
ALG_EDDSA = -8
ALG_ES256 = -7
HDR_CONTENT_TYPE = 3
ALG_NAMES = {ALG_EDDSA: "EdDSA", ALG_ES256: "ES256"}
#: the order of the P-256 group: an ES256 ``s`` above half of it is the high twin of a low one
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


class CoseError(ValueError):
    """The bytes are not a COSE_Sign1 message this module accepts."""


@dataclass(frozen=True)
class Sign1:
    """A decoded (not yet verified) COSE_Sign1 message."""

    protected: bytes  # the serialized protected header, exactly as received
    alg: int
    kid: bytes
    payload: bytes
    signature: bytes
    content_type: Any = None  # protected header label 3, if present

    def to_be_signed(self, external_aad: bytes = b"") -> bytes:
        return sig_structure(self.protected, self.payload, external_aad)


def sig_structure(protected: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """RFC 9052 §4.4: ``["Signature1", body_protected, external_aad, payload]``."""
    return cbor2.dumps(["Signature1", protected, external_aad, payload])


def alg_for(key: PrivateKey | PublicKey) -> int:
    """The COSE algorithm of a key; only Ed25519 and P-256 keys are accepted."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return ALG_EDDSA
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return ALG_ES256
    raise CoseError("only Ed25519 and P-256 (ES256) keys are supported")


def sign1(payload: bytes, key: PrivateKey, kid: bytes, content_type: str | None = None) -> bytes:
    """Encode a tagged COSE_Sign1 with ``alg``, ``kid`` (and ``content_type``) in the protected header."""
    alg = alg_for(key)
    header: dict[int, Any] = {HDR_ALG: alg, HDR_KID: kid}
    if content_type is not None:
        header[HDR_CONTENT_TYPE] = content_type
    protected = cbor2.dumps(header)
    tbs = sig_structure(protected, payload)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(tbs)
    else:
        r, s = decode_dss_signature(key.sign(tbs, ec.ECDSA(hashes.SHA256())))
        s = min(s, P256_N - s)  # low-S: the only form :func:`decode` accepts
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return cbor2.dumps(cbor2.CBORTag(SIGN1_TAG, [protected, {}, payload, signature]))


def decode(data: bytes) -> Sign1:
    """Parse a tagged COSE_Sign1 in its one accepted encoding; :class:`CoseError` on any other."""
    try:
        tagged = cbor2.loads(data)
        canonical = cbor2.dumps(tagged)
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError, LookupError) as exc:
        raise CoseError(f"not CBOR: {type(exc).__name__}") from exc
    if not isinstance(tagged, cbor2.CBORTag) or tagged.tag != SIGN1_TAG:
        raise CoseError("not a COSE_Sign1 (CBOR tag 18)")
    if canonical != data:  # trailing bytes, long heads, indefinite lengths, duplicate keys...
        raise CoseError("not in its canonical encoding")
    obj = tagged.value
    if not isinstance(obj, list | tuple) or len(obj) != 4:
        raise CoseError("COSE_Sign1 must be an array of 4")
    protected, unprotected, payload, signature = obj
    if not (isinstance(protected, bytes) and isinstance(unprotected, Mapping)
            and isinstance(payload, bytes) and isinstance(signature, bytes)):
        raise CoseError("COSE_Sign1 members have the wrong types")
    header = _protected_header(protected)
    alg = header.get(HDR_ALG)
    kid = header.get(HDR_KID, unprotected.get(HDR_KID))
    if not isinstance(alg, int) or isinstance(alg, bool):
        raise CoseError("protected header has no algorithm")
    if not isinstance(kid, bytes) or not kid:
        raise CoseError("no key id")
    return Sign1(protected, alg, kid, payload, signature, header.get(HDR_CONTENT_TYPE))


def _protected_header(protected: bytes) -> Mapping[Any, Any]:
    if not protected:
        return {}
    try:
        header = cbor2.loads(protected)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError, LookupError) as exc:
        raise CoseError("protected header is not CBOR") from exc
    if not isinstance(header, Mapping):
        raise CoseError("protected header is not a map")
    return header


def low_s(msg: Sign1) -> bool:
    """False for an ES256 signature in its high-S form (the twin of a low-S one; :func:`sign1` never
    writes it); True otherwise. Checked after :func:`verify`, so that a signature that fails is just that."""
    return msg.alg != ALG_ES256 or int.from_bytes(msg.signature[32:], "big") <= P256_N // 2


def verify(msg: Sign1, key: PublicKey) -> bool:
    """True if ``msg`` is signed by ``key`` with the algorithm the key implies."""
    if msg.alg != alg_for(key):
        return False
    tbs = msg.to_be_signed()
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(msg.signature, tbs)
        else:
            if len(msg.signature) != 64:
                return False
            r = int.from_bytes(msg.signature[:32], "big")
            s = int.from_bytes(msg.signature[32:], "big")
            key.verify(encode_dss_signature(r, s), tbs, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True
