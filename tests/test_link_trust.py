"""The trust list: signed by the trust root (or, for a first exchange, by a key it holds), several keys per
party with validity periods (rotation), revocation; a message is judged by the key's validity when sent."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from gate_link.canonical import encode, signed
from gate_link.messages import draft, time_text
from gate_link.suites import PrivateKey, generate
from gate_link.trust import TrustError, TrustList, trust_document, trusted_key
from gate_link.verify import Refused, authenticate

from .link_kit import DAY, make_keys, manifest


def wire(key: PrivateKey, sent: float) -> bytes:
    message = draft("manifest", "dongxing", "mong-cai", sent, **manifest())
    return encode(signed({**message, "sent": time_text(sent)}, key, validated=True))


def reason(raw: bytes, trust: TrustList) -> str:
    try:
        authenticate(raw, trust)
    except Refused as exc:
        return exc.reason
    return "ok"


def test_a_list_signed_by_the_root_loads_and_an_altered_one_does_not(tmp_path: Path) -> None:
    keys = make_keys("ed25519")
    root = keys.root.public()
    assert TrustList.from_data(keys.document, root, "t").sequence == 1
    revived = copy.deepcopy(keys.document)
    revived["keys"][2]["revoked"] = False  # type: ignore[index]
    added = copy.deepcopy(keys.document)
    added["keys"].append(trusted_key(generate("ed25519", "x").public(), "dx-x", "dongxing", 0, 2e9))  # type: ignore[attr-defined]
    for altered in (revived, added):
        with pytest.raises(TrustError, match="does not verify with the trust root"):
            TrustList.from_data(altered, root, "t")
    with pytest.raises(TrustError, match="does not verify with the trust root"):
        TrustList.from_data(keys.document, keys.mc.public(), "t")  # signed by another key than the root
    (tmp_path / "trust.json").write_bytes(encode(keys.document))
    (tmp_path / "root.pub").write_bytes(keys.root.public().pem())
    assert TrustList.load(tmp_path / "trust.json", tmp_path / "root.pub").get("dx-1") is not None


def test_without_a_root_a_list_must_be_signed_by_a_key_it_holds() -> None:
    now, key = time.time(), generate("sm2", "dx-1")
    rows = [trusted_key(key.public(), "dx-1", "dongxing", now, now + DAY)]
    assert TrustList.from_data(trust_document(rows, key, 1, now), None, "t").get("dx-1") is not None
    with pytest.raises(TrustError, match="does not verify"):
        TrustList.from_data(trust_document(rows, generate("sm2", "dx-1"), 1, now), None, "t")


def test_rotation_two_keys_of_a_party_are_valid_each_in_its_own_period() -> None:
    now = time.time()
    root, old, new = generate("ed25519", "root"), generate("sm2", "dx-2025"), generate("sm2", "dx-2026")
    rows = [trusted_key(old.public(), "dx-2025", "dongxing", now - 2 * DAY, now + 60),
            trusted_key(new.public(), "dx-2026", "dongxing", now - 60, now + 2 * DAY)]
    trust = TrustList.from_data(trust_document(rows, root, 7, now), root.public(), "t")
    assert reason(wire(old, now), trust) == "ok" and reason(wire(new, now), trust) == "ok"  # the overlap
    assert reason(wire(old, now + 120), trust) == "expired"
    assert reason(wire(new, now - 120), trust) == "not_yet_valid"


@pytest.mark.parametrize(("kid", "expected"), [("dx-1", "ok"), ("dx-0", "revoked"), ("dx-old", "expired"),
                                               ("mc-1", "wrong_party")])
def test_each_key_of_the_list_is_judged(kid: str, expected: str) -> None:
    keys = make_keys("sm2")
    key = {"dx-1": keys.dx, "dx-0": keys.revoked, "dx-old": keys.expired, "mc-1": keys.mc}[kid]
    assert reason(wire(key, time.time()), keys.trust) == expected


def test_a_trust_list_file_that_is_not_one_says_where() -> None:
    bad: dict[str, Any] = {"schema": "gatecore.link.trust/1", "sequence": -1}
    with pytest.raises(TrustError, match="here: not a trust list"):
        TrustList.from_data(json.loads(json.dumps(bad)), None, "here")
