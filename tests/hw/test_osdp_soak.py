"""A link that corrupts 1 % of its bytes in both directions, secure channel on: no wrong actuation.

Each crossing is PASS or DENY at random; a PASS pulses the barrier relay with the crossing number as
its timer, so the PD's own record says which crossing each relay operation belongs to. The default run
is bounded; ``GATECORE_SOAK_CROSSINGS=1000`` runs the full soak.
"""

from __future__ import annotations

import os
import random

import osdp  # type: ignore[import-untyped]
import pytest
from hw_helpers import check_actuations, until

from firmware_bridge.errors import LinkError
from firmware_bridge.osdp.cp import ControlPanel, CpEvent, PdConfig, PdOffline
from firmware_bridge.osdp.messages import OutputCommand, OutputControl
from firmware_bridge.testing.osdp_peer import LibosdpPd, PtyBus

CROSSINGS = int(os.environ.get("GATECORE_SOAK_CROSSINGS", "25"))
KEY = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")


@pytest.mark.parametrize("secure", [True, False], ids=["secure-channel", "plain-no-resend"])
async def test_one_percent_corrupted_bytes_never_actuate_wrongly(secure: bool) -> None:
    """Plain: libosdp 3.2.9 acts again on a re-sent command, so actuating commands get one try there."""
    bus = PtyBus(corrupt=0.01, seed=20261127)
    key = KEY if secure else None
    pd = LibosdpPd(bus, 1, scbk=key, log_level=osdp.LogLevel.Emergency)  # it would log every bad CRC
    pd_cfg = PdConfig(1, secure=True, scbk=KEY) if secure else PdConfig(1, resend_commands=False)
    events: list[CpEvent] = []
    rng = random.Random(1)
    decided: dict[int, bool] = {}
    confirmed, unknown = 0, 0
    try:
        cp = ControlPanel(bus.path, [pd_cfg], reply_timeout=0.1, retries=3,
                          offline_after=5, poll_interval=0.01, command_attempts=3, backoff_initial=0.05)
        async with cp:
            cp.add_listener(events.append)
            for crossing in range(1, CROSSINGS + 1):
                decided[crossing] = rng.random() < 0.7
                if not decided[crossing]:
                    continue
                await cp.wait_online(1, 60)
                try:
                    await cp.output(1, OutputCommand(0, OutputControl.PULSE_ON, timer_100ms=crossing))
                    confirmed += 1
                except LinkError:
                    unknown += 1  # visible to the lane: the command failed, the lane degrades
            await until(lambda: cp.is_online(1), 60)
            stats, parsed = cp.stats, cp.parse_stats
    finally:
        pd.stop()
        bus.close()
    executed = [c["timer_count"] for c in pd.commands(osdp.Command.Output)]
    verdict = check_actuations(executed, decided, confirmed, unknown)
    print(f"osdp soak: {verdict}; {stats}; parser (frames, bad, skipped) {parsed}; {bus.corrupted_bytes} corrupted")
    assert bus.corrupted_bytes > 0
    # the corruption was seen and handled, in counted retries and dropped frames (or an offline PD)
    assert stats.retries + parsed[1] + parsed[2] > 0
    # a command that failed is a counted timeout or refusal (and an error the lane turns into degraded)
    assert unknown == 0 or stats.timeouts + stats.naks > 0 or any(isinstance(e, PdOffline) for e in events)
