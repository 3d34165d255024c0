"""Taking messages that arrived: authenticated (:mod:`.verify`), inside the time window, never replayed,
applied once, in order per subject; every message is either taken or refused with a counted reason.

A batch of messages is checked and applied on the store's thread in one transaction, so a burst costs
one commit. What happened to each is an :class:`Outcome`: the endpoint sends the receipts it asks for
(after the commit: a message receipted is stored) and hands receipts that arrived to the sender side.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import store
from .messages import Message, Receipt, kind_of, subject
from .store import LinkStore
from .trust import TrustList
from .verify import REASONS as VERIFY_REASONS
from .verify import Checked, Refused, authenticate

#: every outcome a receiver counts: taken (applied, duplicate, stale, receipt) or refused
TAKEN = ("applied", "duplicate", "stale", "receipt")
REFUSED = (*VERIFY_REASONS, "skew", "replay")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message: ``status`` is one of :data:`TAKEN` or :data:`REFUSED`."""

    status: str
    message: Message | None = None

    @property
    def receipt(self) -> bool:
        """Whether the sender gets a receipt for it (applied, duplicate or stale)."""
        return self.status in ("applied", "duplicate", "stale")


class Receiver:
    """One side's reception from its partner. ``counts`` counts every outcome by status."""

    def __init__(self, me: str, partner: str, trust: TrustList, db: LinkStore, window_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.me, self.partner = me, partner
        self.trust = trust
        self.db = db
        self.window_s = window_s
        self.clock = clock
        self.counts: Counter[str] = Counter()

    async def take(self, raws: Sequence[bytes]) -> list[Outcome]:
        """Check and apply ``raws`` (in order) in one transaction on the store's thread."""
        now = self.clock()
        outcomes = await self.db.run(lambda conn: [self._one(conn, raw, now) for raw in raws])
        self.counts.update(o.status for o in outcomes)
        return outcomes

    def _one(self, conn: sqlite3.Connection, raw: bytes, now: float) -> Outcome:
        try:
            checked = authenticate(raw, self.trust)
        except Refused as exc:
            return Outcome(exc.reason)
        message = checked.message
        if message.from_ != self.partner or message.to != self.me:
            return Outcome("wrong_party", message)
        if abs(checked.sent - now) > self.window_s:
            return Outcome("skew", message)
        assert message.sent is not None
        if not store.first_sight(conn, message.id, message.sent, checked.sent + self.window_s):
            return Outcome("replay", message)
        if isinstance(message, Receipt):
            return Outcome("receipt", message)
        return Outcome(self._apply(conn, checked, now), message)

    def _apply(self, conn: sqlite3.Connection, checked: Checked, now: float) -> str:
        message = checked.message
        if store.applied_status(conn, message.id) is not None:
            return "duplicate"
        kind, subj = kind_of(message), subject(message)
        version: int = getattr(message, "version")  # noqa: B009 - every ordered kind has one
        assert subj is not None
        if store.current_version(conn, message.from_, kind, subj) >= version:
            store.remember(conn, message.id, "stale", now)
            return "stale"
        body = message.model_dump_json(by_alias=True, exclude={"signature", "sent"}).encode()
        store.apply(conn, message.from_, kind, subj, version, message.id, body, now)
        return "applied"
