"""Evidence sources, the transaction context they work in, and how a lane gathers their evidence."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from gatecore.checks import checked_evidence
from gatecore.devices import Device, DeviceEvent
from gatecore.notify import abandon, launch, outcome, plugin_error
from gatecore.privacy import NOTHING, Reports, SafeMessage, error_text
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
    :class:`Evidence` for ``self.source``. Each ``collect`` runs in a task of its own, cancelled at the
    source's deadline, so it must be cancellable; what it binds to the running task (``asyncio.timeout()``,
    an ``asyncio.TaskGroup``, ``asyncio.current_task()``) is its own, never the lane's. It runs on the event
    loop between its awaits: each such step must be quick (a step past ``run.hook_budget_ms`` fails the
    source); CPU-heavy work goes to an executor (``loop.run_in_executor``).
    """

    source: str

    async def collect(self, txn: TransactionContext) -> Evidence: ...


@dataclass(frozen=True, slots=True)
class Source:
    """An evidence source of a lane, with its deadline in seconds, the plugin that made it, its configured
    kind and what that kind declares it may report."""

    source: EvidenceSource
    deadline: float
    plugin: str
    kind: str | None = None
    reports: Reports = NOTHING

    @property
    def name(self) -> str:
        return self.source.source


class SourceFailed(SafeMessage):
    """A source raised, blocked the event loop or returned something that is not its evidence."""

    def __init__(self, src: Source, error: BaseException) -> None:
        super().__init__(f"{src.plugin}: evidence source {src.name!r}: {error_text(error)}")
        self.plugin = src.plugin


async def gather(sources: Sequence[Source], txn: TransactionContext, overall: float, budget_s: float,
                 log: Any) -> dict[str, Evidence]:
    """Every source's evidence, checked (:func:`gatecore.checks.checked_evidence`): the sources run
    concurrently, each in a task of its own until its own deadline (a late one is missing, not a failure).
    The first failure, or a source that keeps the event loop busy past ``budget_s`` in one step, raises
    :class:`SourceFailed`."""
    found: dict[str, Evidence] = {}
    waiting: dict[asyncio.Task[Any], tuple[Source, float]] = {}
    try:
        for src in sources:
            t0 = time.monotonic()
            try:
                task = launch(src.source.collect(txn), f"{txn.lane_id}/{src.name}", budget_s)
            except BaseException as exc:  # collect itself raised: its plugin is at fault, unless we are cancelled
                raise SourceFailed(src, plugin_error(exc)) from exc
            waiting[task] = (src, t0)
        await _wait(waiting, txn, overall, found, log)
    finally:
        abandon(waiting)
    return {src.name: found[src.name] for src in sources if src.name in found}


async def _wait(waiting: dict[asyncio.Task[Any], tuple[Source, float]], txn: TransactionContext, overall: float,
                found: dict[str, Evidence], log: Any) -> None:
    due = {task: txn.started + min(overall, src.deadline) for task, (src, _) in waiting.items()}
    pending = set(waiting)
    while pending:
        now = time.monotonic()
        for task in abandon(t for t in pending if due[t] <= now):
            pending.discard(task)
            src = waiting[task][0]
            log.warning("evidence_late", source=src.name, deadline_ms=round(src.deadline * 1000))
            txn.publish(src.name, None)
        if not pending:
            return
        done, _ = await asyncio.wait(pending, timeout=max(0.0, min(due[t] for t in pending) - now),
                                     return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            pending.discard(task)
            src, t0 = waiting[task]
            try:
                result = outcome(task, (), overall)
            except Exception as exc:
                raise SourceFailed(src, exc) from exc
            found[src.name] = _accepted(src, txn, result, t0)


def _accepted(src: Source, txn: TransactionContext, result: object, t0: float) -> Evidence:
    """Check what a source produced, stamp its time, and publish it to the other sources."""
    try:
        if isinstance(result, Evidence) and not result.elapsed_ms:
            result = replace(result, elapsed_ms=(time.monotonic() - t0) * 1000)
        evidence = checked_evidence(result, src.name, src.kind)
    except (ValueError, TypeError) as exc:
        txn.publish(src.name, None)
        raise SourceFailed(src, exc) from None
    txn.publish(src.name, evidence)
    return evidence
