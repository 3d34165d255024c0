"""SIMULATED evidence: outcomes drawn at random, for demos, tests and benchmarks. Never for a real lane."""

from __future__ import annotations

import asyncio
import hashlib
import random
from itertools import accumulate

from gatecore.api import Evidence, Outcome, TransactionContext

from .config import SimEvidenceConfig


class SimEvidence:
    def __init__(self, config: SimEvidenceConfig, lane_id: str, seed: int) -> None:
        self.source = config.source
        self.config = config
        self.rng = random.Random(f"{seed}/{lane_id}/{config.source}")
        self.outcomes = [Outcome.PASS, Outcome.DENY, Outcome.REFER]
        self.cum_weights = list(accumulate([config.pass_weight, config.deny_weight, config.refer_weight]))

    async def collect(self, txn: TransactionContext) -> Evidence:
        """With no latency configured the verdict is at hand: returned without waiting."""
        low, high = self.config.latency_ms
        delay = self.rng.uniform(low, high) / 1000 if high > 0 else 0.0
        if delay:
            await asyncio.sleep(delay)
        return self._draw(txn, delay)

    def _draw(self, txn: TransactionContext, delay: float) -> Evidence:
        outcome = self.rng.choices(self.outcomes, cum_weights=self.cum_weights)[0]
        ref = hashlib.sha256(f"{txn.txn_id}/{self.source}".encode()).hexdigest()[:16]
        return Evidence(
            source=self.source,
            kind="sim.evidence",
            outcome=outcome,
            confidence=self.rng.uniform(0.5, 1.0),
            reason="simulated",
            claims={"identity_ref": ref, "simulated": True},
            summary={"simulated": True, "latency_ms": round(delay * 1000, 3),
                     "weights": {"pass": self.config.pass_weight, "deny": self.config.deny_weight,
                                 "refer": self.config.refer_weight}},
        )
