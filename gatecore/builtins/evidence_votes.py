"""Turn each source's own verdict into a vote.

Every evidence source says what it concluded (``Evidence.outcome``); this essential plugin votes that
verdict on the source's behalf, so a lane decides from its evidence alone when no other decision
plugin is installed. Other plugins add votes beside these (a watchlist DENY, say).
"""

from __future__ import annotations

from collections.abc import Mapping

from gatecore import hookimpl
from gatecore.evidence import TransactionContext
from gatecore.types import Evidence, Vote

VOTER = "evidence_votes"


@hookimpl
def gatecore_vote(txn: TransactionContext, evidence: Mapping[str, Evidence]) -> list[Vote]:
    return [
        Vote(VOTER, ev.outcome, ev.reason, source=name)
        for name, ev in evidence.items()
        if ev.outcome is not None
    ]
