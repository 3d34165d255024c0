"""Evidence sources and the transaction context they work in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gatecore.devices import Device, DeviceEvent
from gatecore.types import Evidence


@dataclass
class TransactionContext:
    """One crossing in progress, as evidence sources and voters see it.

    ``trigger`` is the device event that started it (a loop occupied, a scan). A source that needs
    another's result (face 1:1 needs the identity claimed by the pass) awaits
    :meth:`wait_evidence`; every wait is bounded by the caller's own deadline.
    """

    txn_id: str
    site_id: str
    lane_id: str
    trigger: DeviceEvent
    devices: Mapping[str, Device]
    started: float = field(default_factory=time.monotonic)
    stash: dict[str, Any] = field(default_factory=dict)
    _results: dict[str, asyncio.Future[Evidence | None]] = field(default_factory=dict)

    def _future(self, source: str) -> asyncio.Future[Evidence | None]:
        fut = self._results.get(source)
        if fut is None:
            fut = self._results[source] = asyncio.get_running_loop().create_future()
        return fut

    def publish(self, source: str, evidence: Evidence | None) -> None:
        """Called by the lane when a source finished (``None``: failed or late)."""
        fut = self._future(source)
        if not fut.done():
            fut.set_result(evidence)

    async def wait_evidence(self, source: str, timeout: float) -> Evidence | None:
        """The evidence of another source of this lane, or ``None`` if it fails or ``timeout`` passes."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._future(source)), timeout)
        except TimeoutError:
            return None

    def cancel_waits(self) -> None:
        for fut in self._results.values():
            if not fut.done():
                fut.set_result(None)


@runtime_checkable
class EvidenceSource(Protocol):
    """What ``gatecore_make_evidence_source`` returns.

    ``collect`` gathers the observations it needs (grab a frame, wait for a scan) and returns
    :class:`Evidence` for ``self.source``. The lane cancels it at the source's deadline, so it must be
    cancellable; CPU-heavy work goes to an executor (``loop.run_in_executor``).
    """

    source: str

    async def collect(self, txn: TransactionContext) -> Evidence: ...


def collect_now(source: EvidenceSource, txn: TransactionContext) -> Evidence | None:
    """The source's answer if it already has it in hand, else ``None``.

    A source may define ``collect_now(txn)``: a plain (not async) method that returns :class:`Evidence`
    when the answer needs no waiting at all (the scan that started the crossing, a manifest lodged in
    advance, a simulated verdict) and ``None`` otherwise. The lane tries it first; only when it returns
    ``None`` is ``collect`` run as a task. It runs on the event loop, so it must be cheap and must never
    wait; it may raise like ``collect`` (the source then counts as failed).
    """
    now = getattr(source, "collect_now", None)
    if now is None:
        return None
    result: Evidence | None = now(txn)
    return result
