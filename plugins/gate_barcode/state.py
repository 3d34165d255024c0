"""What the lanes of one controller share: the trust list, the replay guard and its store.

Uses are recorded from the decisions (:meth:`SiteState.decided`), saved before the report hook returns
(so before the barrier moves), and shared with the crossing's other controllers as
``gate_barcode/uses/{crossing}/{site id}``: a delta per use, and a snapshot of this controller's uses in
the window at start and every :data:`SNAPSHOT_EVERY_S` when something changed. A signed trust list
arrives as ``gate_barcode/trust``. Logs carry counts, versions and pass id hashes only.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from gatecore.api import Decision, Outcome, SharedState, SiteView, error_text

from . import cose, replay
from .config import KIND, BarcodeSection
from .passes import SIGNED_REASONS
from .replay import Place, ReplayGuard, Use, UseStore
from .trust import TrustList, TrustListError, load_root

log = structlog.get_logger("gate_barcode")

TRUST_NAME = "gate_barcode/trust"
USES_PREFIX = "gate_barcode/uses/"
USES_FILE = "pass-uses.sqlite"
TRUST_FILE = "pass-trust.cose"
SNAPSHOT_EVERY_S = 60.0


def trust_update(site_id: str, trust: TrustList) -> SharedState:
    """A signed trust list as the shared-state snapshot controllers take (published by the IOC)."""
    if trust.signed is None:
        raise ValueError("only a signed trust list can be shared")
    return SharedState(site_id, TRUST_NAME, "snapshot", 0, trust.sequence, trust.signed)


@dataclass
class SiteState:
    section: BarcodeSection
    site_id: str
    crossing: str
    trust: TrustList
    root: cose.PublicKey | None
    guard: ReplayGuard
    store: UseStore
    groups: dict[tuple[str, str], str] = field(default_factory=dict)  # (lane, source) -> replay group
    counts: dict[str, int] = field(default_factory=dict)
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "gate_barcode"))
    version: int = field(default_factory=lambda: int(time.time() * 1000))
    changed: bool = True  # uses accepted since the last snapshot (at start: say what is held)

    @classmethod
    def from_section(cls, section: BarcodeSection | None, site_id: str) -> SiteState:
        """Read the trust lists and the stored uses (blocking: called while the site is assembled)."""
        section = section or BarcodeSection()
        root = load_root(section.trust_root) if section.trust_root else None
        trust = TrustList.load(section.trust_list, root) if section.trust_list else TrustList({})
        state_dir = Path(section.state_dir)
        store = UseStore(state_dir / USES_FILE)
        guard = ReplayGuard(section.replay_window_s)
        now = time.time()
        for use in store.load(now - section.replay_window_s):
            guard.accept(use, now)
        store.prune(now - section.replay_window_s)
        crossing = section.crossing or site_id.split("/", 1)[0]
        state = cls(section, site_id, crossing, trust, root, guard, store)
        if root is not None and (state_dir / TRUST_FILE).exists():
            state._take_saved_trust(state_dir / TRUST_FILE, root)
        return state

    def _take_saved_trust(self, path: Path, root: cose.PublicKey) -> None:
        try:
            saved = TrustList.load(path, root)
        except TrustListError as exc:
            self.count("trust_refused")
            log.warning("pass_trust_refused", source="state_dir", error=error_text(exc))
            return
        if saved.sequence > self.trust.sequence:
            self.trust = saved
        log.info("pass_trust_loaded", sequence=self.trust.sequence, keys=len(self.trust.entries))

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def place(self, lane: str, source: str) -> Place:
        return Place(self.site_id, lane, self.groups.get((lane, source), "all"))

    @property
    def uses_name(self) -> str:
        return f"{USES_PREFIX}{self.crossing}/{self.site_id}"

    # -- uses ------------------------------------------------------------------------------------
    async def decided(self, site: SiteView, decision: Decision) -> None:
        """A decision: the crossing's hold ends; a PASS records the use of its (signature-checked) pass."""
        self.guard.release(decision.txn_id)
        if decision.outcome is not Outcome.PASS:
            return
        now = time.time()
        uses = []
        for source, ev in decision.evidence.items():
            key = ev.claims.get("pass_id_hash")
            if ev.kind == KIND and ev.reason in SIGNED_REASONS and isinstance(key, str):
                use = Use(key, self.place(decision.stamp.lane_id, source), now)
                if self.guard.accept(use, now):
                    uses.append(use)
        if not uses:
            return
        self.changed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self.executor, self.store.put, uses)
        except sqlite3.Error as exc:  # the guard still holds it in memory; say so loudly
            self.count("uses_not_saved")
            log.error("pass_uses_not_saved", error=error_text(exc), uses=len(uses))
        site.spawn(site.share_state(self._update("delta", uses)), name="gate_barcode/share-use")

    def _update(self, kind: str, uses: list[Use]) -> SharedState:
        base, self.version = self.version, max(self.version + 1, int(time.time() * 1000))
        return SharedState(self.site_id, self.uses_name, kind, base if kind == "delta" else 0, self.version,
                           replay.encode(uses))

    async def share_snapshots(self, site: SiteView) -> None:
        """This controller's uses in the window, at start and every SNAPSHOT_EVERY_S when they changed."""
        loop = asyncio.get_running_loop()
        while True:
            now = time.time()
            if self.changed:
                self.changed = False
                self.guard.prune(now)
                await site.share_state(self._update("snapshot", self.guard.recent(now, self.site_id)))
                await loop.run_in_executor(self.executor, self.store.prune, now - self.guard.window_s)
            await asyncio.sleep(SNAPSHOT_EVERY_S)

    def apply_uses(self, update: SharedState) -> bool:
        """Uses from another controller of this crossing, merged into the guard (order does not matter)."""
        try:
            uses = replay.decode(update.payload, update.site_id)
        except ValueError as exc:
            self.count("uses_refused")
            log.warning("pass_uses_refused", shared=update.name, error=error_text(exc))
            return False
        now = time.time()
        taken = sum(self.guard.accept(u, now) for u in uses if u.place.site != self.site_id)
        log.info("pass_uses_applied", shared=update.name, kind=update.kind, uses=len(uses), taken=taken)
        return True

    # -- the trust list --------------------------------------------------------------------------
    async def apply_trust(self, update: SharedState) -> bool:
        """A signed trust list from the broker: taken when it verifies with the root and is newer."""
        try:
            if self.root is None:
                raise TrustListError("no trust_root in the profile: trust list updates are not taken")
            new = TrustList.from_signed(update.payload, self.root, "shared trust list")
            if new.sequence != update.version:
                raise TrustListError("the update's version is not the signed list's sequence")
        except TrustListError as exc:
            self.count("trust_refused")
            log.warning("pass_trust_refused", source="broker", error=error_text(exc),
                        refused=self.counts["trust_refused"])
            return False
        if new.sequence <= self.trust.sequence:
            same = new.signed == self.trust.signed
            if not same:
                self.count("trust_stale")
                log.warning("pass_trust_stale", sequence=new.sequence, held=self.trust.sequence)
            return same
        path = Path(self.section.state_dir) / TRUST_FILE
        await asyncio.get_running_loop().run_in_executor(self.executor, _write_atomically, path, update.payload)
        self.trust = new
        log.info("pass_trust_updated", sequence=new.sequence, keys=len(new.entries))
        return True

    def close(self) -> None:
        """Close the store after the writes already queued (on the store's thread: the loop does not wait)."""
        self.executor.submit(self.store.close)
        self.executor.shutdown(wait=False)

    def summary(self) -> dict[str, Any]:
        return {**self.counts, "trust_sequence": self.trust.sequence}


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

