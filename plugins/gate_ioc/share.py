"""Shared state between controllers over the IOC broker, signed with Ed25519.

An update (a face gallery snapshot or delta, a watchlist...) travels on ``{prefix}/shared/{name}`` as
``{"schema": "gatecore.ioc.shared_state/1", "kid": KEY_ID, "sig": BASE64, "state": RECORD}`` where
``RECORD`` is :meth:`gatecore.api.SharedState.to_record` and ``sig`` signs its canonical JSON (keys sorted,
no spaces, UTF-8). Snapshots are retained, so a controller that connects later gets the latest one;
deltas are not. A receiver applies only updates signed by a key in its trust list, whose name matches
the topic, and that come from another site; anything else is counted, logged (without the payload)
and dropped.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gatecore.api import SharedState

from .payloads import topic_segment

SCHEMA = "gatecore.ioc.shared_state/1"


class Refused(Exception):
    """An update that must not be applied; the message says why (never what it carried)."""


def load_trusted(path: str | Path) -> dict[str, Ed25519PublicKey]:
    """``{"keys": {KEY_ID: base64 raw Ed25519 public key}}`` -> keys by id (ValueError when malformed)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"trust list {path}: {exc}") from None
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, dict) or not keys:
        raise ValueError(f"trust list {path}: expected {{\"keys\": {{KEY_ID: base64 public key}}}}")
    out = {}
    for kid, text in keys.items():
        try:
            out[str(kid)] = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
        except (ValueError, TypeError, binascii.Error):
            raise ValueError(f"trust list {path}: key {kid!r} is not a base64 Ed25519 public key") from None
    return out


def load_signer(pem: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM text (ValueError otherwise)."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a PEM private key without a passphrase ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the signing key must be an Ed25519 key")
    return key


def public_text(key: Ed25519PrivateKey) -> str:
    """The base64 public key, as a trust list holds it."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def _canonical(state: Mapping[str, Any]) -> bytes:
    return json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(update: SharedState, key: Ed25519PrivateKey, kid: str) -> bytes:
    state = update.to_record()
    sig = base64.b64encode(key.sign(_canonical(state))).decode()
    return json.dumps({"schema": SCHEMA, "kid": kid, "sig": sig, "state": state},
                      separators=(",", ":"), ensure_ascii=False).encode()


def verify(message: bytes, trusted: Mapping[str, Ed25519PublicKey], topic_name: str) -> SharedState:
    """The update in ``message`` arriving on the topic of ``topic_name`` (a topic segment), or Refused."""
    try:
        data = json.loads(message)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refused("not JSON") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise Refused("not a gatecore.ioc.shared_state/1 message")
    kid, sig, state = data.get("kid"), data.get("sig"), data.get("state")
    if not isinstance(state, dict) or not isinstance(sig, str) or not isinstance(kid, str):
        raise Refused("missing kid, sig or state")
    key = trusted.get(kid)
    if key is None:
        raise Refused(f"signed by an unknown key {kid[:32]!r}")
    try:
        key.verify(base64.b64decode(sig, validate=True), _canonical(state))
    except (InvalidSignature, binascii.Error, ValueError):
        raise Refused(f"bad signature (key {kid[:32]!r})") from None
    try:
        update = SharedState.from_record(state)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise Refused(f"malformed state ({type(exc).__name__})") from None
    if topic_segment(update.name) != topic_name:
        raise Refused("the state's name does not match its topic")
    return update
