"""Record ids: UUIDv7 strings, time-ordered and unique."""

from __future__ import annotations

import time
import uuid

from gatecore.types import new_id


def test_ids_are_uuid7_with_the_current_time_and_strictly_increasing() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(20_000)]  # many share a millisecond: the counter keeps them ordered
    after = time.time_ns() // 1_000_000
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for text in (ids[0], ids[-1]):
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after + 1  # the counter may run ahead by a millisecond
