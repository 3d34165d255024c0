"""Fuzzed messages at the receiver: none crashes it, every one is refused with a reason, none is applied.

The messages are made from real signed ones of every kind (both suites) by seeded mutations: random bytes,
cut or flipped bytes, fields removed, added, retyped or set to hostile values (control characters, lone
surrogates, huge or fractional numbers, deep nesting, duplicate keys), and correctly signed messages that
are still wrong (another party, another key's id, a clock far off, a replay of one already taken).
``GATECORE_FUZZ_EXAMPLES`` sets how many (3,000 by default; the issue's run is 100,000).
"""

from __future__ import annotations

import copy
import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gate_link import store
from gate_link.canonical import encode, signed
from gate_link.messages import KINDS, example, time_text
from gate_link.receiver import REFUSED, Receiver
from gate_link.store import LinkStore

from .link_kit import DX, MC, make_keys

EXAMPLES = int(os.environ.get("GATECORE_FUZZ_EXAMPLES", "3000"))
HOSTILE: list[Any] = [None, True, 0, -1, 2**53, 2**64, 1.5, -0.0, 1e308, "", "x" * 5000, "\x00", "\u2028",
                      "\ud800", "a\nb", "9999-99-99T99:99:99Z", [], {}, [[[[[[[]]]]]]], {"a": {"b": {"c": {}}}},
                      "CSQU3054384", "🚚" * 30]


def _raw(data: Any) -> bytes:
    """JSON as a hostile sender may write it: any text, lone surrogates too."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


class Mutator:
    def __init__(self, seed: int, originals: list[dict[str, Any]], sign: Callable[..., bytes]) -> None:
        self.rng = random.Random(seed)
        self.originals = originals
        self.sign = sign
        self.ops: list[Callable[[dict[str, Any], bytes], bytes]] = [
            self.random_bytes, self.cut, self.flip, self.flip, self.drop_key, self.add_key, self.retype,
            self.retype, self.hostile, self.hostile, self.duplicate_key, self.deep, self.not_object,
            self.resigned_wrong, self.replayed,
        ]

    def next(self) -> bytes:
        data = self.rng.choice(self.originals)
        return self.rng.choice(self.ops)(copy.deepcopy(data), encode(data))

    def random_bytes(self, _: dict[str, Any], __: bytes) -> bytes:
        return self.rng.randbytes(self.rng.randrange(0, 400))

    def cut(self, _: dict[str, Any], raw: bytes) -> bytes:
        return raw[: self.rng.randrange(len(raw))]

    def flip(self, _: dict[str, Any], raw: bytes) -> bytes:
        b = bytearray(raw)
        i = self.rng.randrange(len(b))
        b[i] ^= 1 << self.rng.randrange(8)
        return bytes(b)

    def _path(self, data: dict[str, Any]) -> tuple[Any, Any]:
        """A random (container, key) inside ``data``."""
        node: Any = data
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                return data, "schema"
            key = self.rng.choice(keys)
            child = node[key]
            if not isinstance(child, dict | list) or not child or self.rng.random() < 0.5:
                return node, key
            node = child

    def drop_key(self, data: dict[str, Any], _: bytes) -> bytes:
        node, key = self._path(data)
        del node[key]
        return _raw(data)

    def add_key(self, data: dict[str, Any], _: bytes) -> bytes:
        node, _key = self._path(data)
        target = node if isinstance(node, dict) else data
        target[self.rng.choice(["extra", "Version", "signature2", "__proto__"])] = self.rng.choice(HOSTILE)
        return _raw(data)

    def retype(self, data: dict[str, Any], _: bytes) -> bytes:
        node, key = self._path(data)
        value = node[key]
        node[key] = [value] if self.rng.random() < 0.5 else json.dumps(value)
        return _raw(data)

    def hostile(self, data: dict[str, Any], _: bytes) -> bytes:
        node, key = self._path(data)
        node[key] = self.rng.choice(HOSTILE)
        return _raw(data)

    def duplicate_key(self, data: dict[str, Any], raw: bytes) -> bytes:
        key = self.rng.choice([k for k in data if k != "signature"])
        return raw[:-1] + b',"%s":%s}' % (key.encode(), _raw(data[key]))

    def deep(self, _: dict[str, Any], __: bytes) -> bytes:
        n = self.rng.randrange(10, 100_000)
        return b'{"schema":"gatecore.link.manifest/1","x":' + b"[" * n + b"]" * n + b"}"

    def not_object(self, _: dict[str, Any], __: bytes) -> bytes:
        return self.rng.choice([b"[]", b"null", b"1", b'"x"', b"NaN", b"-Infinity", b"\xef\xbb\xbf{}", b"{}"])

    def resigned_wrong(self, data: dict[str, Any], _: bytes) -> bytes:
        """Signed as it should be, and wrong all the same."""
        data.pop("signature", None)
        how = self.rng.choice(["to", "from", "skew", "kid", "suite"])
        if how in ("to", "from"):
            data[how] = self.rng.choice(["mong-cai", "dongxing", "hanoi"])
            data["to" if how == "from" else "from"] = data[how]
        return self.sign(data, how)

    def replayed(self, data: dict[str, Any], raw: bytes) -> bytes:
        return raw


async def test_fuzzed_messages_are_each_refused_with_a_reason_and_none_is_applied(tmp_path: Path) -> None:
    keys = make_keys("ed25519")
    sm2 = make_keys("sm2")
    rows = [*keys.document["keys"], *[dict(r, kid="dx-sm2") for r in sm2.document["keys"] if r["kid"] == "dx-1"]]
    from gate_link.trust import TrustList, trust_document

    trust = TrustList.from_data(trust_document(rows, keys.root, 2, time.time()), keys.root.public(), "fuzz")
    sm2_key = type(sm2.dx)(sm2.dx.suite, sm2.dx.key, "dx-sm2")

    def sign(data: dict[str, Any], how: str = "") -> bytes:
        sent = time.time() + (10_000 if how == "skew" else 0)
        key = keys.rogue if how == "kid" else sm2_key if how == "suite" or random.random() < 0.2 else keys.dx
        out = signed({**data, "sent": time_text(sent)}, key, validated=True)
        if how == "suite":
            out["signature"]["suite"] = "ed25519"
        return encode(out)

    originals = []
    for kind in KINDS:
        draft = {**example(kind, time.time()), "from": DX, "to": MC}
        originals.append(json.loads(sign(draft)))
    db = LinkStore(tmp_path / "state.sqlite", "normal")
    await db.open()
    receiver = Receiver(MC, DX, trust, db, 300.0)
    taken = await receiver.take([encode(o) for o in originals])
    assert [o.status for o in taken] == ["applied", "applied", "applied", "applied", "receipt"]
    mutator = Mutator(20261127, originals, sign)
    outcomes: Counter[str] = Counter()
    for start in range(0, EXAMPLES, 256):
        batch = [mutator.next() for _ in range(min(256, EXAMPLES - start))]
        outcomes.update(o.status for o in await receiver.take(batch))
    log = await db.run(store.log)
    await db.close()
    assert sum(outcomes.values()) == EXAMPLES
    assert set(outcomes) <= set(REFUSED), outcomes
    assert len(log) == 4  # the originals, and nothing else
    assert {"not_json", "schema", "forged", "replay", "skew", "unknown_key", "wrong_party"} <= set(outcomes)
    print(f"{EXAMPLES} fuzzed messages, all refused: {dict(outcomes.most_common())}")
