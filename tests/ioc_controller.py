"""A controller process for the kill test: ``produce`` puts decisions forever (printing each id once
its commit returned) while delivering; ``drain`` delivers what is pending, prints ``drained`` and exits."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from gate_ioc import payloads
from gate_ioc.mqtt import MqttSettings, MqttTransport
from gatecore.api import Decision, Outcome, Stamp, new_id
from gatecore.outbox import Outbox
from gatecore.privacy import SafeText

LANES = ("bl1-egate-1", "bl2-cargo-in-1")


async def main(mode: str, db: Path, port: int, site: str) -> None:
    now = 0.0
    transport = MqttTransport(MqttSettings(
        "127.0.0.1", port, site=site, client_id="ioc-test-controller", keepalive_s=5, reconnect_max_s=0.5,
        online_payload=payloads.encode(payloads.status(site, True, now)),
        offline_payload=payloads.encode(payloads.status(site, False, now))))
    async with Outbox(db, backoff_max_s=0.5) as box:
        keeper = asyncio.create_task(transport.run())
        delivery = asyncio.create_task(box.deliver(transport))
        if mode == "produce":
            while True:
                for lane in LANES:
                    d = Decision(Stamp(site, lane), new_id(), Outcome.DENY, (SafeText("watchlist"),), (), {}, (), 3.0)
                    rid = await box.put(lane, "decision", payloads.encode(payloads.decision(d, None)), id=d.stamp.id)
                    sys.stdout.write(rid + "\n")
                    sys.stdout.flush()
        await asyncio.wait_for(transport.connected.wait(), 30)
        if not await box.wait_idle(60):
            raise SystemExit("outbox did not drain")
        print("drained", flush=True)
        delivery.cancel()
        keeper.cancel()
        await asyncio.wait([delivery, keeper], timeout=5)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
