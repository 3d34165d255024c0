"""Real peers for the firmware_bridge tests: libosdp PDs on a pty bus."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from firmware_bridge.testing.osdp_peer import LibosdpPd, PtyBus


@pytest.fixture
def bus() -> Iterator[PtyBus]:
    bus = PtyBus()
    yield bus
    bus.close()


@pytest.fixture
def make_pd(bus: PtyBus) -> Iterator[Callable[..., LibosdpPd]]:
    """Start a libosdp PD on the bus; every PD still running is stopped at teardown."""
    running: list[LibosdpPd] = []

    def make(address: int, **kwargs: Any) -> LibosdpPd:
        pd = LibosdpPd(bus, address, **kwargs)
        running.append(pd)
        return pd

    yield make
    for pd in running:
        pd.stop()
