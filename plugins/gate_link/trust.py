"""The trust list: the parties' public keys by key id, with validity periods and revocation, itself signed.

A trust list is a JSON object (``schemas/trust-1.json``)::

    {"schema": "gatecore.link.trust/1", "sequence": 3, "issued": "...",
     "keys": [{"kid": "dx-2026a", "party": "dongxing", "suite": "sm2", "public_key": BASE64_SPKI_DER,
               "not_before": "...", "not_after": "...", "revoked": false}, ...],
     "signature": {"suite": ..., "kid": ..., "value": ...}}

signed over its RFC 8785 form (:mod:`.canonical`) by the trust root, a key kept offline whose public key
the profile names (``trust_root``); without a root the list must be signed by one of its own keys (a list
``gatecore link keys generate`` made, for a first exchange of keys). Rotation: a party has several keys at
once, each valid from ``not_before`` to ``not_after``; a key is judged at the time its message was sent.
A revoked key is refused whatever the time. A newer list has a higher ``sequence``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from .canonical import encode, signature_ok, signed
from .messages import Party, Ref, Signature, Time, _Model, parse_time, time_text
from .suites import KeyError_, PrivateKey, PublicKey, load_public, load_public_pem

SCHEMA = "gatecore.link.trust/1"


class TrustError(ValueError):
    """A trust list or root that cannot be used; the message says where and why."""


class TrustedKey(_Model):
    kid: Ref
    party: Party
    suite: Literal["ed25519", "sm2"]
    public_key: str = Field(max_length=400, description="base64 of the SubjectPublicKeyInfo DER")
    not_before: Time
    not_after: Time
    revoked: bool = False


class TrustListModel(_Model):
    schema_: Literal["gatecore.link.trust/1"] = Field(alias="schema")
    sequence: int = Field(ge=0, le=2**53 - 1, description="grows with every issue of the list")
    issued: Time
    keys: list[TrustedKey] = Field(max_length=256)
    signature: Signature | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One trusted key: its row and the loaded key, with its validity as epoch seconds."""

    row: TrustedKey
    key: PublicKey
    not_before: float
    not_after: float


@dataclass(frozen=True)
class TrustList:
    sequence: int
    entries: dict[str, Entry]

    def get(self, kid: str) -> Entry | None:
        return self.entries.get(kid)

    @classmethod
    def from_data(cls, data: Any, root: PublicKey | None, where: str) -> TrustList:
        """A trust list from its parsed JSON; :class:`TrustError` unless it is well formed and signed by
        ``root`` (or, without a root, by one of its own keys)."""
        try:
            model = TrustListModel.model_validate(data)
        except ValidationError as exc:
            raise TrustError(f"{where}: not a trust list: {_first_error(exc)}") from None
        entries = {}
        for row in model.keys:
            try:
                key = load_public(row.suite, base64.b64decode(row.public_key, validate=True))
            except (KeyError_, ValueError) as exc:
                raise TrustError(f"{where}: key {row.kid!r}: {exc}") from None
            entries[row.kid] = Entry(row, key, parse_time(row.not_before), parse_time(row.not_after))
        if model.signature is None:
            raise TrustError(f"{where}: the trust list is not signed")
        signer = root if root is not None else _own(entries, model.signature.kid)
        if signer is None or not signature_ok(data, signer):
            who = "the trust root" if root is not None else "the key it names"
            raise TrustError(f"{where}: the trust list's signature does not verify with {who}")
        return cls(model.sequence, entries)

    @classmethod
    def load(cls, path: str | Path, root: str | Path | None = None) -> TrustList:
        try:
            data = json.loads(Path(path).read_bytes())
        except OSError as exc:
            raise TrustError(f"{path}: cannot read the trust list: {exc.strerror}") from None
        except ValueError:
            raise TrustError(f"{path}: the trust list is not JSON") from None
        return cls.from_data(data, load_root(root) if root is not None else None, str(path))


def _own(entries: dict[str, Entry], kid: str) -> PublicKey | None:
    entry = entries.get(kid)
    return entry.key if entry is not None and not entry.row.revoked else None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"


def load_root(path: str | Path) -> PublicKey:
    """The trust root's public key (PEM SubjectPublicKeyInfo, Ed25519 or SM2)."""
    try:
        return load_public_pem(Path(path).read_bytes())
    except OSError as exc:
        raise TrustError(f"{path}: cannot read the trust root: {exc.strerror}") from None
    except KeyError_ as exc:
        raise TrustError(f"{path}: {exc}") from None


def trusted_key(key: PublicKey, kid: str, party: str, not_before: float, not_after: float,
                revoked: bool = False) -> dict[str, Any]:
    """A trust list row for ``key``."""
    return {"kid": kid, "party": party, "suite": key.suite, "public_key": base64.b64encode(key.spki()).decode(),
            "not_before": time_text(not_before), "not_after": time_text(not_after), "revoked": revoked}


def trust_document(rows: list[dict[str, Any]], signer: PrivateKey, sequence: int, issued: float) -> dict[str, Any]:
    """A trust list of ``rows``, signed by ``signer`` (the root, or one of the rows' keys)."""
    return signed({"schema": SCHEMA, "sequence": sequence, "issued": time_text(issued), "keys": rows}, signer)


def write_trust(path: Path, document: dict[str, Any]) -> None:
    path.write_bytes(encode(document) + b"\n")
