"""Fuzz the pass parser: random and mutated payloads never raise and never verify as forged.

Bounded by default: 2000 examples in total, 400 for each of the five strategies below
(``GATECORE_FUZZ_EXAMPLES=100000`` runs that many in total). The fifth, alternate encodings of a
genuine pass (issue 11), found on main that bytes after the zlib stream or after the COSE message and
the ``n - s`` twin of an ES256 signature all verified as the genuine pass.
"""

from __future__ import annotations

import os
import zlib
from datetime import UTC, datetime
from typing import Any

import base45  # type: ignore[import-untyped]
import cbor2
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate_barcode import cose
from gate_barcode.passes import PREFIX, Issuer, PassResult, Reason, encode, verify
from gate_barcode.trust import TrustList, TrustListModel, trusted_key

TOTAL = int(os.environ.get("GATECORE_FUZZ_EXAMPLES", "2000"))
FUZZ = settings(max_examples=max(1, TOTAL // 5), deadline=None, derandomize=TOTAL <= 2000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NOW = 1_790_000_000
B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

ED = Issuer("VN-MC", ed25519.Ed25519PrivateKey.generate())
ES = Issuer("CN-DX", ec.generate_private_key(ec.SECP256R1()))
TRUST = TrustList.from_model(TrustListModel(keys=[
    trusted_key(i.key.public_key(), i.issuer, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    for i in (ED, ES)]))
SEEDS = [i.issue("res-000417", "resident", NOW - 3600, NOW + 3600, issued_at=NOW - 3600, pass_id=bytes([n]) * 16)
         for n, i in enumerate((ED, ES))]
ORIGINAL = {s: verify(s, TRUST, now=NOW).claims for s in SEEDS}


def _check(text: str, original: str | None = None) -> PassResult:
    result = verify(text, TRUST, now=NOW)
    assert isinstance(result.reason, Reason) and len(result.id_hash) == 16
    if result.ok:  # nothing but the signed claims of a genuine pass ever verifies
        assert original is not None and result.claims == ORIGINAL[original]
    else:
        assert result.claims is None or result.reason not in (Reason.MALFORMED, Reason.BAD_SIGNATURE)
    return result


@FUZZ
@given(st.one_of(st.text(max_size=600), st.text(alphabet=B45, max_size=600).map(lambda t: PREFIX + t)))
def test_random_text_is_rejected_with_a_reason(text: str) -> None:
    assert not _check(text).ok


edits = st.lists(st.tuples(st.sampled_from(["set", "del", "ins", "cut"]), st.integers(0, 10_000),
                           st.text(alphabet=B45 + "\n\x00é", min_size=1, max_size=4)), min_size=1, max_size=4)


@FUZZ
@given(st.sampled_from(SEEDS), edits)
def test_mutated_pass_text_never_escapes(seed: str, ops: list[tuple[str, int, str]]) -> None:
    text = seed
    for op, pos, chunk in ops:
        i = pos % (len(text) + 1)
        text = {"set": text[:i] + chunk + text[i + len(chunk):], "del": text[:i] + text[i + len(chunk):],
                "ins": text[:i] + chunk + text[i:], "cut": text[:i]}[op]
    _check(text, seed)


def _cose_bytes(seed: str) -> bytes:
    return zlib.decompress(base45.b45decode(seed[len(PREFIX):]))


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6),
       st.integers(0, 10_000))
def test_mutated_cose_bytes_never_escape(seed: str, flips: list[tuple[int, int]], cut: int) -> None:
    raw = bytearray(_cose_bytes(seed))
    for pos, value in flips:
        raw[pos % len(raw)] = value
    _check(encode(bytes(raw[: max(1, cut % (len(raw) + 8))])), seed)


cbor_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.binary(max_size=40) | st.text(max_size=20)
    | st.floats(allow_nan=True),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.integers(-300, 10) | st.text(max_size=4), inner,
                                                                   max_size=5),
    max_leaves=25)


@FUZZ
@given(cbor_values, st.sampled_from([None, 18, 98, 0, 1]), st.booleans())
def test_structured_cbor_never_escapes(value: Any, tag: int | None, signed: bool) -> None:
    if signed:  # well-formed COSE from a trusted key over arbitrary claims: must be BAD_CLAIMS, not a crash
        payload = cose.sign1(cbor2.dumps(value), ED.key, ED.kid)
    else:
        payload = cbor2.dumps(value if tag is None else cbor2.CBORTag(tag, value))
    result = _check(encode(payload))
    assert not result.ok
    if signed:
        assert result.reason in (Reason.BAD_CLAIMS,)


def _alternate(raw: bytes, how: str, extra: bytes) -> str:
    """Another encoding of the same COSE message, or of its signature's ``s`` (never a new signature)."""
    if how == "after_zlib":
        return PREFIX + str(base45.b45encode(zlib.compress(raw, 9) + extra).decode())
    if how == "after_cose":
        return encode(raw + extra)
    tag = cbor2.loads(raw)
    parts = list(tag.value)
    if how == "high_s":  # only meaningful for ES256; for EdDSA it is S + n, also never valid
        sig = parts[3]
        parts[3] = sig[:32] + (cose.P256_N - int.from_bytes(sig[32:], "big")).to_bytes(32, "big")
        return encode(cbor2.dumps(cbor2.CBORTag(18, parts)))
    if how == "untagged":
        return encode(cbor2.dumps(parts))
    return encode(b"\xd2\x9f" + b"".join(cbor2.dumps(p) for p in parts) + b"\xff")  # indefinite array


@FUZZ
@given(st.sampled_from(SEEDS), st.sampled_from(["after_zlib", "after_cose", "high_s", "untagged", "indefinite"]),
       st.binary(min_size=1, max_size=40))
def test_alternate_encodings_of_a_genuine_pass_never_verify(seed: str, how: str, extra: bytes) -> None:
    result = _check(_alternate(_cose_bytes(seed), how, extra), seed)
    assert result.reason in (Reason.MALFORMED, Reason.BAD_SIGNATURE) and result.claims is None
