"""The outbox's SQLite side: one thread uses the connection and runs what is queued in group commits.

What is queued while a group runs makes the next group: one transaction, one fsync and one hand-off back
to the event loop for a burst of ``put()`` calls, and one INSERT statement for its rows (every sqlite3 call
releases and re-takes the GIL, which can cost the switch interval while the event loop is busy). The rows
of the ``sequenced`` kinds that must arrive are numbered per lane in the same transaction.

Disk budget: records count their payload plus :data:`ROW_OVERHEAD`. Beyond the budget, delivered records
are purged first, then pending telemetry (``must=False``), oldest first, counted in ``dropped``. Records
that must arrive are never dropped; the store reports ``over_budget`` instead.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import structlog

log = structlog.get_logger("gatecore.outbox")

T = TypeVar("T")

#: Bytes added to each record's payload when counting it against the disk budget (row, index entries).
ROW_OVERHEAD = 128

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    lane TEXT NOT NULL, kind TEXT NOT NULL, must INTEGER NOT NULL, created REAL NOT NULL, payload BLOB NOT NULL,
    delivered REAL, lane_seq INTEGER);
CREATE INDEX IF NOT EXISTS records_pending ON records (seq) WHERE delivered IS NULL;
CREATE INDEX IF NOT EXISTS records_done ON records (delivered) WHERE delivered IS NOT NULL;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS lanes (lane TEXT PRIMARY KEY, seq INTEGER NOT NULL);  -- the last lane_seq of each
"""
_SIZE = f"COALESCE(SUM(LENGTH(payload)), 0) + COUNT(*) * {ROW_OVERHEAD}"
_INSERT = "INSERT INTO records (id, lane, kind, must, created, payload, lane_seq) VALUES "
_ROWS_PER_INSERT = 4000  # 7 parameters a row, under SQLite's 32766

#: ``(id, lane, kind, must, created, payload)``
Row = tuple[str, str, str, int, float, bytes]


class OutboxError(Exception):
    """The outbox cannot do what was asked (closed, storage failure)."""


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One stored record as handed to a transport. ``seq`` is the commit order across all lanes."""

    seq: int
    id: str
    lane: str
    kind: str
    payload: bytes
    created: float
    lane_seq: int | None = None  # its number in its lane (1, 2, ... never reused in the file's ``stream``)


@dataclass(frozen=True, slots=True)
class LaneBacklog:
    lane: str
    pending: int
    oldest_created: float


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    lanes: tuple[LaneBacklog, ...]
    pending: int
    delivered_kept: int
    dropped: int
    bytes: int
    budget_bytes: int

    @property
    def over_budget(self) -> bool:
        return self.bytes > self.budget_bytes


@dataclass(slots=True)
class _Op:
    fn: Callable[[sqlite3.Connection], Any] | None  # None: insert ``rows``, the result is the first seq
    rows: list[Row]
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None


class _Retry(Exception):
    """One operation of a group failed: roll back and run them one by one."""


class Store:
    """One SQLite connection, used by a thread of its own (a pool of one worker). What is submitted while
    a group runs is the next group."""

    def __init__(self, path: Path, synchronous: Literal["full", "normal"], budget_bytes: int,
                 sequenced: Collection[str] = ()) -> None:
        self.path = path
        self.synchronous = synchronous
        self.budget_bytes = budget_bytes
        self.sequenced = frozenset(sequenced)
        self.bytes = 0
        self.over_budget = False
        self.stream = ""
        self.lane_seq: dict[str, int] = {}  # lane -> its last number
        self._pool: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._queued: list[_Op] = []
        self._running = False

    async def start(self) -> None:
        pool = ThreadPoolExecutor(1, thread_name_prefix="gatecore-outbox")
        try:
            self._conn = await asyncio.get_running_loop().run_in_executor(pool, self._open)
        except (sqlite3.Error, OSError) as exc:
            pool.shutdown(wait=False)
            raise OutboxError(f"cannot open outbox {self.path}: {exc}") from None
        self._pool = pool

    async def stop(self, timeout: float = 10.0) -> None:
        pool, self._pool = self._pool, None
        if pool is None or self._conn is None:
            return
        try:  # after the group under way; what is queued behind it fails
            await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(pool, self._conn.close), timeout)
        except TimeoutError:
            log.error("outbox_thread_stuck", timeout_s=timeout)
        pool.shutdown(wait=False)

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        return self._submit(fn, [])

    def insert(self, rows: list[Row]) -> asyncio.Future[int]:
        """Insert rows; the future gives the seq of the first (the rows of one call are consecutive)."""
        return self._submit(None, rows)

    def _submit(self, fn: Callable[[sqlite3.Connection], Any] | None, rows: list[Row]) -> asyncio.Future[Any]:
        if self._pool is None:
            raise OutboxError("outbox is not open")
        op = _Op(fn, rows, asyncio.get_running_loop().create_future())
        self._queued.append(op)
        if not self._running:
            self._next()
        return op.future

    def _next(self) -> None:
        ops, self._queued = self._queued, []
        if self._pool is None or self._conn is None:
            for op in ops:
                op.future.set_exception(OutboxError("outbox is closed"))
            return
        self._running = True
        group = asyncio.get_running_loop().run_in_executor(self._pool, self._execute, self._conn, ops)
        group.add_done_callback(partial(self._finished, ops))

    def _finished(self, ops: list[_Op], group: asyncio.Future[None]) -> None:
        self._running = False
        failure = None if group.cancelled() else group.exception()
        for op in ops:
            if op.future.done():
                continue
            if op.error is not None or failure is not None:
                op.future.set_exception(op.error or OutboxError(f"outbox failed: {failure!r}"))
            else:
                op.future.set_result(op.result)
        if self._queued:
            self._next()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.executescript(_SCHEMA)
        if "lane_seq" not in [row[1] for row in conn.execute("PRAGMA table_info(records)")]:  # made before
            conn.execute("ALTER TABLE records ADD COLUMN lane_seq INTEGER")
        conn.execute("INSERT OR IGNORE INTO counters VALUES ('stream', ?)", (random.getrandbits(63),))
        self.stream = format(conn.execute("SELECT value FROM counters WHERE name = 'stream'").fetchone()[0], "016x")
        self.lane_seq = dict(conn.execute("SELECT lane, seq FROM lanes").fetchall())
        self.bytes = conn.execute(f"SELECT {_SIZE} FROM records").fetchone()[0]
        return conn

    def _execute(self, conn: sqlite3.Connection, ops: list[_Op]) -> None:
        """Run a group in one transaction; if one operation fails, run them one by one so it fails alone."""
        before, numbers = self.bytes, dict(self.lane_seq)
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._insert(conn, [op for op in ops if op.fn is None])
            for op in ops:
                if op.fn is not None:
                    try:
                        op.result = op.fn(conn)
                    except Exception as exc:  # noqa: BLE001 - handed to the caller's future
                        op.error = exc
            if any(op.error is not None for op in ops):
                raise _Retry
            if self.bytes > self.budget_bytes:
                self._enforce_budget(conn)
            conn.execute("COMMIT")
        except (_Retry, sqlite3.Error) as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.bytes, self.lane_seq = before, numbers
            if len(ops) == 1:
                ops[0].error = ops[0].error or OutboxError(f"outbox write failed: {exc}")
                return
            for op in ops:
                op.error = op.result = None
                self._execute(conn, [op])

    def _insert(self, conn: sqlite3.Connection, ops: list[_Op]) -> None:
        rows = [row for op in ops for row in op.rows]
        if not rows:
            return
        values = [(*row, self._number(*row[1:4])) for row in rows]
        last = 0
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = values[start : start + _ROWS_PER_INSERT]
            sql = _INSERT + ",".join(["(?,?,?,?,?,?,?)"] * len(chunk))
            last = conn.execute(sql, [value for row in chunk for value in row]).lastrowid or 0
        numbered = {row[1] for row in values if row[6] is not None}
        if numbered:
            conn.executemany("INSERT INTO lanes VALUES (?, ?) ON CONFLICT (lane) DO UPDATE SET seq = excluded.seq",
                             [(lane, self.lane_seq[lane]) for lane in numbered])
        first = last - len(rows) + 1  # AUTOINCREMENT rows of one transaction are consecutive
        for op in ops:
            op.result = first
            first += len(op.rows)
        self.bytes += sum(len(row[5]) + ROW_OVERHEAD for row in rows)

    def _number(self, lane: str, kind: str, must: int) -> int | None:
        if not must or kind not in self.sequenced:
            return None
        n = self.lane_seq[lane] = self.lane_seq.get(lane, 0) + 1
        return n

    def _enforce_budget(self, conn: sqlite3.Connection) -> None:
        """Purge delivered records, then pending telemetry, oldest first, until within the budget."""
        for where, counted in (("delivered IS NOT NULL", False), ("delivered IS NULL AND must = 0", True)):
            while self.bytes > self.budget_bytes:
                sql = f"SELECT seq, LENGTH(payload) FROM records WHERE {where} ORDER BY seq LIMIT 256"
                victims: list[tuple[int]] = []
                for seq, size in conn.execute(sql).fetchall():
                    victims.append((seq,))
                    self.bytes -= size + ROW_OVERHEAD
                    if self.bytes <= self.budget_bytes:
                        break
                if not victims:
                    break
                conn.executemany("DELETE FROM records WHERE seq = ?", victims)
                if counted:
                    conn.execute("INSERT INTO counters VALUES ('dropped', ?) ON CONFLICT (name) DO UPDATE "
                                 "SET value = value + excluded.value", (len(victims),))
        over = self.bytes > self.budget_bytes
        if over and not self.over_budget:
            log.warning("outbox_over_budget", bytes=self.bytes, budget_bytes=self.budget_bytes,
                        why="records that must arrive are never dropped")
        self.over_budget = over


# -- the queries (each runs on the store's thread) ---------------------------------------------------
def read_pending(conn: sqlite3.Connection, after: int, limit: int) -> list[OutRecord]:
    return [OutRecord(*row) for row in conn.execute(
        "SELECT seq, id, lane, kind, payload, created, lane_seq FROM records WHERE delivered IS NULL AND seq > ? "
        "ORDER BY seq LIMIT ?", (after, limit))]


def mark_delivered(conn: sqlite3.Connection, when: float, seqs: list[int]) -> None:
    for start in range(0, len(seqs), 900):
        chunk = seqs[start : start + 900]
        conn.execute(f"UPDATE records SET delivered = ? WHERE seq IN ({','.join('?' * len(chunk))})", [when, *chunk])


def status(store: Store, conn: sqlite3.Connection) -> OutboxStatus:
    lanes = tuple(LaneBacklog(*row) for row in conn.execute(
        "SELECT lane, COUNT(*), MIN(created) FROM records WHERE delivered IS NULL GROUP BY lane ORDER BY lane"))
    kept = conn.execute("SELECT COUNT(*) FROM records WHERE delivered IS NOT NULL").fetchone()[0]
    dropped = conn.execute("SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = 'dropped'").fetchone()[0]
    return OutboxStatus(lanes, sum(b.pending for b in lanes), kept, dropped, store.bytes, store.budget_bytes)


def replay(conn: sqlite3.Connection, since: float, lane: str | None) -> int:
    sql = "UPDATE records SET delivered = NULL WHERE delivered IS NOT NULL AND created >= ?"
    if lane is None:
        return conn.execute(sql, (since,)).rowcount
    return conn.execute(sql + " AND lane = ?", (since, lane)).rowcount


def purge(store: Store, conn: sqlite3.Connection, before: float) -> int:
    where = "FROM records WHERE delivered IS NOT NULL AND delivered < ?"
    store.bytes -= conn.execute(f"SELECT {_SIZE} {where}", (before,)).fetchone()[0]
    return conn.execute(f"DELETE {where}", (before,)).rowcount
