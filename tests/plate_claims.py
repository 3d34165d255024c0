"""A test plugin, written as a vendor would: a plate reader whose reads the test scripts, publishing the
plates and container codes in the claims the link reads (``gate_link.claims``)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from gatecore.api import (
    NUMBER,
    Evidence,
    EvidenceConfig,
    EvidenceSource,
    LaneInfo,
    Outcome,
    Reports,
    TransactionContext,
    hookimpl,
)

#: the claims of the next reads, one per crossing (an empty map: nothing read)
READS: deque[dict[str, Any]] = deque()


class ScriptedPlatesConfig(EvidenceConfig):
    reports: ClassVar[Reports] = Reports(("read", "nothing"), plates=NUMBER)
    kind: Literal["test.plates"]


class ScriptedPlates:
    def __init__(self, source: str) -> None:
        self.source = source

    async def collect(self, txn: TransactionContext) -> Evidence:
        claims = READS.popleft() if READS else {}
        return Evidence(self.source, "test.plates", Outcome.PASS, 0.9, "read" if claims else "nothing", claims,
                        {"plates": len(claims.get("plates", ()))})


@hookimpl
def gatecore_evidence_kinds() -> Sequence[type[EvidenceConfig]]:
    return (ScriptedPlatesConfig,)


@hookimpl
def gatecore_make_evidence_source(config: EvidenceConfig, lane: LaneInfo) -> EvidenceSource | None:
    return ScriptedPlates(config.source) if isinstance(config, ScriptedPlatesConfig) else None
