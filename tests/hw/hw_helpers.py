"""Helpers shared by the hardware-link tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for ``predicate()``; fail the test if it is still false after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def check_actuations(executed: list[int], decided: dict[int, bool], confirmed: int, failed: int) -> str:
    """The soak verdict: nothing executed twice, nothing executed without a PASS, every confirmed command
    executed. ``executed`` holds the crossing number of each actuation, as the peer recorded it."""
    assert len(executed) == len(set(executed)), "an actuation was executed twice"
    assert all(decided.get(t) for t in executed), "an actuation for a crossing that was not a PASS"
    assert confirmed <= len(executed) <= confirmed + failed
    return (f"{len(decided)} crossings, {sum(decided.values())} PASS, {len(executed)} actuations, 0 wrong; "
            f"{confirmed} confirmed, {failed} failed commands")
