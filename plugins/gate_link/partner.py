"""The partner simulator: the Dongxing side of the link, for the demo and the tests. SIMULATED.

It is an :class:`~gate_link.endpoint.Endpoint` of its own (its outbox, its received state): it lodges
manifests for simulated traffic, takes the clearances and lane states the controller sends, and receipts
them - and, on request, misbehaves: :meth:`PartnerSimulator.transmit` puts a message on the wire signed
with any key, at any clock, and :meth:`PartnerSimulator.misbehave` does each of the classic wrongs
(forged, unknown key, revoked or expired key, replay, duplicate, out-of-order updates, clock skew).
Silence (the partner away for hours) is the wire going down: the controller's messages wait in its outbox.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .canonical import encode, signed
from .endpoint import Endpoint
from .messages import Handover, draft, time_text
from .receiver import Outcome
from .sim import Truck, container_code
from .suites import PrivateKey

MODES = ("forged", "unknown_key", "revoked", "expired", "replay", "duplicate", "out_of_order", "skew")


def manifest_fields(consignment: str, version: int, plates: tuple[str, ...], codes: tuple[str, ...],
                    valid_until: float, flagged: bool = False) -> dict[str, Any]:
    return {"consignment": consignment, "version": version, "valid_until": time_text(valid_until),
            "vehicle": {"plates": list(plates)}, "containers": [{"code": c, "seals": []} for c in codes],
            "driver_doc_ref": f"doc-{consignment.lower()}", "flagged": flagged}


class PartnerSimulator:
    """SIMULATED partner side. ``keys`` are the keys it may misbehave with, by name (``unknown_key``,
    ``revoked``, ``expired``): keys the controller's trust list does not hold, holds revoked, holds expired."""

    def __init__(self, endpoint: Endpoint, keys: Mapping[str, PrivateKey] | None = None) -> None:
        self.endpoint = endpoint
        self.keys = dict(keys or {})
        self.key = endpoint.courier.key
        self.transmitted: list[bytes] = []
        self.arrived: asyncio.Queue[tuple[float, Handover]] = asyncio.Queue()  # IGVs handed over, to hand back

    def taken(self, outcomes: Sequence[Outcome]) -> None:
        """An endpoint listener: the IGVs the controller handed over (``handover`` ``arrived``) are noted, to
        be handed back by :meth:`hand_back` (when the simulator is told to)."""
        for o in outcomes:
            if isinstance(o.message, Handover) and o.status == "applied" and o.message.event == "arrived":
                self.arrived.put_nowait((time.monotonic(), o.message))

    async def hand_back(self, after_s: float) -> None:
        """Hand every IGV handed over back ``after_s`` after it arrived, at the same point (until cancelled)."""
        while True:
            t, m = await self.arrived.get()
            await asyncio.sleep(max(0.0, t + after_s - time.monotonic()))
            now = time.time()
            await self.endpoint.send("handover", trip=f"{m.trip}/back", version=int(now * 1000), igv=m.igv,
                                     event="arrived", point=m.point, at=time_text(now))

    async def lodge(self, truck: Truck, now: float | None = None) -> str | None:
        """The manifest of ``truck`` (none for ``no_manifest``), through the outbox."""
        now = time.time() if now is None else now
        if truck.case == "no_manifest":
            return None
        codes = (container_code(random.Random(truck.consignment)),) if truck.case == "container_mismatch" \
            else truck.codes
        until = now - 3600 if truck.case == "expired" else now + 2 * 86400
        fields = manifest_fields(truck.consignment, int(now), truck.plates, codes, until, truck.case == "flagged")
        return await self.endpoint.send("manifest", **fields)

    def message(self, kind: str, **fields: Any) -> dict[str, Any]:
        """An unsigned message of this side to the controller."""
        return draft(kind, self.endpoint.me, self.endpoint.partner, time.time(), **fields)

    async def transmit(self, message: Mapping[str, Any], key: PrivateKey | None = None, skew_s: float = 0.0,
                 tamper: Mapping[str, Any] | None = None) -> bytes:
        """Put ``message`` on the wire now, outside the outbox: signed with ``key`` (default: this side's)
        at this side's clock plus ``skew_s``, then altered by ``tamper`` (fields replaced after signing)."""
        data = signed({**message, "sent": time_text(time.time() + skew_s)}, key or self.key, validated=True)
        payload = encode({**data, **(tamper or {})})
        await self.again(payload)
        return payload

    async def again(self, payload: bytes) -> None:
        """Put bytes already sent on the wire once more (a replay)."""
        await self.endpoint.wire.dispatch([payload])
        self.transmitted.append(payload)

    async def misbehave(self, mode: str, fields: Mapping[str, Any], window_s: float = 300.0) -> dict[str, Any]:
        """Do ``mode`` (one of :data:`MODES`) with a manifest of ``fields``; returns the message (for
        ``out_of_order``, the older one, sent second)."""
        message = self.message("manifest", **fields)
        if mode in ("unknown_key", "revoked", "expired"):
            await self.transmit(message, key=self.keys[mode])
        elif mode == "forged":
            await self.transmit(message, tamper={"flagged": not fields.get("flagged", False)})
        elif mode == "skew":
            await self.transmit(message, skew_s=window_s + 60)
        elif mode == "replay":
            await self.again(await self.transmit(message))
        elif mode == "duplicate":
            await self.transmit(message)
            await self.transmit(message, skew_s=0.002)  # signed again a moment later: a new transmission
        elif mode == "out_of_order":
            newer = self.message("manifest", **{**fields, "version": int(fields["version"]) + 1})
            await self.transmit(newer)
            await self.transmit(message)
        else:
            raise ValueError(f"unknown misbehaviour {mode!r}; modes: {', '.join(MODES)}")
        return message
