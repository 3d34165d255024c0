"""Checking a message that arrived, up to what needs no state: well formed, of a known kind, signed by a
trusted key of its sender that was valid when it was sent. What needs state (the time window, replays,
duplicates, order) is the receiver's (:mod:`.receiver`).

Each refusal has a reason code; :data:`REASONS` lists them in the order they are checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .canonical import decode, signature_ok
from .messages import BY_SCHEMA, MAX_BYTES, Message, parse_time
from .trust import Entry, TrustList

#: why a message is refused, in the order of the checks (the receiver adds its own: :mod:`.receiver`)
REASONS = ("too_large", "not_json", "schema", "unsigned", "unknown_key", "wrong_party", "revoked", "not_yet_valid",
           "expired", "forged")
#: what ``gatecore link verify`` prints for each
EXPLAIN = {
    "too_large": f"larger than {MAX_BYTES} bytes", "not_json": "not a JSON object",
    "schema": "does not match its schema", "unsigned": "not signed", "unknown_key": "signed by an unknown key",
    "wrong_party": "signed by a key of another party", "revoked": "signed by a revoked key",
    "not_yet_valid": "signed by a key not yet valid when it was sent", "expired": "signed by an expired key",
    "forged": "the signature does not verify (forged or altered)",
}


class Refused(Exception):
    """A message that is not applied; ``reason`` is one of the reason codes, ``detail`` names no content."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Checked:
    """A message that is what it says: its parsed JSON, its model, the key that signed it, when it was sent."""

    data: dict[str, Any]
    message: Message
    key: Entry
    sent: float


def parse(raw: bytes) -> tuple[dict[str, Any], Message]:
    """The message's JSON and model; :class:`Refused` (too_large, not_json, schema)."""
    if len(raw) > MAX_BYTES:
        raise Refused("too_large")
    try:
        data = decode(raw)
    except (ValueError, RecursionError):
        raise Refused("not_json") from None
    if not isinstance(data, dict):
        raise Refused("not_json")
    schema = data.get("schema")
    model = BY_SCHEMA.get(schema) if isinstance(schema, str) else None
    if model is None:
        raise Refused("schema", "unknown schema")
    try:
        return data, model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise Refused("schema", f"{'.'.join(str(p) for p in err['loc'])}: {err['type']}") from None


def authenticate(raw: bytes, trust: TrustList) -> Checked:
    """Parse ``raw`` and check its signature against ``trust``: the key is known, belongs to the sender, was
    valid when the message says it was sent and is not revoked, and the signature verifies."""
    data, message = parse(raw)
    sig = message.signature
    if sig is None or message.sent is None:
        raise Refused("unsigned")
    entry = trust.get(sig.kid)
    if entry is None or entry.row.suite != sig.suite:
        raise Refused("unknown_key")
    if entry.row.party != message.from_:
        raise Refused("wrong_party")
    if entry.row.revoked:
        raise Refused("revoked")
    sent = parse_time(message.sent)
    if sent < entry.not_before:
        raise Refused("not_yet_valid")
    if sent > entry.not_after:
        raise Refused("expired")
    if not signature_ok(data, entry.key, validated=True):
        raise Refused("forged")
    return Checked(data, message, entry, sent)
