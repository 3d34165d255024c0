"""What a signature covers: the RFC 8785 (JCS) form of the whole object, its ``signature`` member included
without ``value`` - so the suite and the key id are signed too.

Why RFC 8785 and not COSE: the link's messages are JSON documents, checked against JSON Schemas at both
ends and read by people at both customs services. With JCS the message stays one plain JSON object that
the schema validates as it travels, the signature a member beside the fields it covers, and every
language the partner's side may use has an implementation. COSE (as the gate passes use, where a QR code
must be small) would carry the message as a CBOR blob, opaque to the schema until decoded.
Canonicalisation is the ``rfc8785`` package (Trail of Bits). The messages carry integers only (below
2**53) and their keys are the schemas' ASCII names, so no implementation can disagree on how a number is
written or keys are ordered; for such a document - one its model has accepted - RFC 8785 is orjson's
sorted compact JSON, some fifty times quicker (``validated=True``; the tests check that the two agree on
every kind of message, with any text in its strings).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import orjson
import rfc8785

from .suites import PrivateKey, PublicKey


def signing_input(data: Mapping[str, Any], validated: bool = False) -> bytes:
    """The bytes a signature of ``data`` covers (``data``'s ``signature``, if any, without its value).
    ``validated``: ``data`` is a message or trust list its model accepted (see above)."""
    unsigned = dict(data)
    sig = unsigned.get("signature")
    if isinstance(sig, Mapping):
        unsigned["signature"] = {k: v for k, v in sig.items() if k != "value"}
    if validated:
        try:
            return orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError as exc:  # a lone surrogate
            raise ValueError("not encodable") from exc
    return rfc8785.dumps(unsigned)


def signed(data: Mapping[str, Any], key: PrivateKey, validated: bool = False) -> dict[str, Any]:
    """``data`` with a ``signature`` made with ``key``."""
    out = {k: v for k, v in data.items() if k != "signature"}
    out["signature"] = {"suite": key.suite, "kid": key.kid}
    out["signature"]["value"] = base64.b64encode(key.sign(signing_input(out, validated))).decode()
    return out


def signature_ok(data: Mapping[str, Any], public: PublicKey, validated: bool = False) -> bool:
    """Whether ``data``'s signature (made with the suite of ``public``) verifies with ``public``."""
    sig = data.get("signature")
    if not isinstance(sig, Mapping) or sig.get("suite") != public.suite or not isinstance(sig.get("value"), str):
        return False
    try:
        value = base64.b64decode(sig["value"], validate=True)
        payload = signing_input(data, validated)
    except (binascii.Error, ValueError):  # UnicodeEncodeError (a lone surrogate) is a ValueError
        return False
    return public.verify(value, payload)


def encode(data: Mapping[str, Any]) -> bytes:
    """A message as it travels: compact JSON, UTF-8 (so that :func:`decode` reads it on its quick path)."""
    return orjson.dumps(data)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a key appears twice")  # two readers could take different values
    return out


def decode(raw: bytes) -> Any:
    """JSON text as the link reads it: ``ValueError`` for anything but JSON, and for an object with a key
    given twice. Quick path: what orjson reads and writes back byte for byte (compact JSON, as
    :func:`encode` writes it) has no key twice; anything else is read again by the standard library, which
    says whether a key was given twice."""
    try:
        data = orjson.loads(raw)
        if orjson.dumps(data) == raw:
            return data
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError):
        pass
    return json.loads(raw, object_pairs_hook=_no_duplicates)
