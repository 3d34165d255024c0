"""The cargo lane's manifest check: the plates and container codes read, against the manifests held.

PASS only with a manifest that matches - every plate read is one of its vehicle's plates, the container
codes read are exactly its containers - and has not expired; REFER with the reason when no manifest
names a plate read (``no_manifest``), the one found has expired, names other plates or containers, or a
code read fails its check digit; DENY when the partner flagged the consignment. No plate read at all
(the plate evidence missing or empty) is REFER ``no_plates``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from gatecore.api import Evidence, Outcome, TransactionContext, normalise_plate, valid_container_code

from . import claims
from .config import ManifestEvidenceConfig
from .messages import Manifest, parse_time
from .receiver import Outcome as Taken

KIND = "link.manifest"


@dataclass(frozen=True, slots=True)
class Held:
    """One manifest held, as the check needs it (plates and codes normalised)."""

    consignment: str
    version: int
    plates: frozenset[str]
    codes: frozenset[str]
    valid_until: float
    flagged: bool

    @classmethod
    def of(cls, m: Manifest) -> Held:
        return cls(m.consignment, m.version, frozenset(normalise_plate(p) for p in m.vehicle.plates),
                   frozenset(normalise_plate(c.code) for c in m.containers), parse_time(m.valid_until), m.flagged)


class ManifestIndex:
    """The partner's current manifests by consignment and by plate, in memory (loaded from the link's state
    at start, kept up to date by every manifest applied)."""

    def __init__(self) -> None:
        self.by_consignment: dict[str, Held] = {}
        self.by_plate: dict[str, set[str]] = {}

    def put(self, m: Manifest) -> None:
        old = self.by_consignment.get(m.consignment)
        if old is not None and old.version >= m.version:
            return
        if old is not None:
            for plate in old.plates:
                self.by_plate.get(plate, set()).discard(old.consignment)
        held = self.by_consignment[m.consignment] = Held.of(m)
        for plate in held.plates:
            self.by_plate.setdefault(plate, set()).add(held.consignment)

    def taken(self, outcomes: Sequence[Taken]) -> None:
        """An endpoint listener: the manifests just applied."""
        for o in outcomes:
            if o.status == "applied" and isinstance(o.message, Manifest):
                self.put(o.message)

    def find(self, plates: Sequence[str]) -> list[Held]:
        names = {c for p in plates for c in self.by_plate.get(p, ())}
        return sorted((self.by_consignment[c] for c in names), key=lambda h: h.consignment)


def check(index: ManifestIndex, plates: Sequence[str], codes: Sequence[str], now: float
          ) -> tuple[Outcome, str, Held | None]:
    """The verdict, its reason and the manifest it is about (see the module's docstring)."""
    if not plates:
        return Outcome.REFER, "no_plates", None
    found = index.find(plates)
    if not found:
        return Outcome.REFER, "no_manifest", None
    read = frozenset(codes)
    held = next((h for h in found if h.codes == read and set(plates) <= h.plates), found[0])
    if held.flagged:
        return Outcome.DENY, "flagged", held
    if held.valid_until < now:
        return Outcome.REFER, "expired", held
    if not set(plates) <= held.plates:
        return Outcome.REFER, "plate_mismatch", held
    if not all(valid_container_code(c) for c in read):
        return Outcome.REFER, "container_unreadable", held
    if read != held.codes:
        return Outcome.REFER, "container_mismatch", held
    return Outcome.PASS, "matched", held


class ManifestEvidence:
    """The ``link.manifest`` source of one lane: waits for the lane's plate evidence, then checks."""

    def __init__(self, config: ManifestEvidenceConfig, index: ManifestIndex) -> None:
        self.source = config.source
        self.config = config
        self.index = index

    async def collect(self, txn: TransactionContext) -> Evidence:
        t0 = time.monotonic()
        cfg, wait = self.config, self.config.deadline_ms / 1000
        plate, boxes = await asyncio.gather(txn.wait_evidence(cfg.plates_from, wait),
                                            txn.wait_evidence(cfg.codes_from or cfg.plates_from, wait))
        plates = claims.plates(plate.claims) if plate is not None else []
        codes = claims.codes(boxes.claims) if boxes is not None else []
        outcome, reason, held = check(self.index, plates, codes, time.time())
        found: dict[str, object] = {} if held is None else {"consignment": held.consignment, "version": held.version}
        summary = {**found, "plates_read": len(plates), "containers_read": len(codes),
                   "containers_expected": len(held.codes) if held else 0}
        return Evidence(self.source, KIND, outcome, 1.0, reason, {**found, "plates": plates}, summary,
                        elapsed_ms=(time.monotonic() - t0) * 1000)
