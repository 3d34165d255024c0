"""The outbox's SQLite side: one thread owns the connection and runs what is queued in group commits.

Operations queued while the thread is busy run together in one transaction and their results come back to
the event loop in one hand-off, so a burst of ``put()`` calls from many lanes costs one fsync, not one per
record. The rows that a group inserts go in one statement: every sqlite3 call releases and re-takes the
GIL, and re-taking it costs up to the switch interval while the event loop is busy.

Disk budget: records count their payload plus :data:`ROW_OVERHEAD`. Beyond the budget, delivered records
are purged first (oldest first), then pending telemetry (``must=False``) oldest first, counted in
``dropped``. Records that must arrive are never dropped; the store reports ``over_budget`` instead.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import structlog

log = structlog.get_logger("gatecore.outbox")

T = TypeVar("T")

#: Bytes added to each record's payload when counting it against the disk budget (row, index entries).
ROW_OVERHEAD = 128

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT NOT NULL UNIQUE,
    lane      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    must      INTEGER NOT NULL,
    created   REAL NOT NULL,
    payload   BLOB NOT NULL,
    delivered REAL
);
CREATE INDEX IF NOT EXISTS records_pending ON records (seq) WHERE delivered IS NULL;
CREATE INDEX IF NOT EXISTS records_done ON records (delivered) WHERE delivered IS NOT NULL;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_SIZE = f"COALESCE(SUM(LENGTH(payload)), 0) + COUNT(*) * {ROW_OVERHEAD}"
_INSERT = "INSERT INTO records (id, lane, kind, must, created, payload) VALUES "
_ROWS_PER_INSERT = 5000  # 6 parameters a row, under SQLite's 32766

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
    """A thread owning one SQLite connection, running queued operations in group commits."""

    def __init__(self, path: Path, synchronous: Literal["full", "normal"], budget_bytes: int) -> None:
        self.path = path
        self.synchronous = synchronous
        self.budget_bytes = budget_bytes
        self.bytes = 0
        self.over_budget = False
        self._ops: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()  # None: stop
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- event-loop side -------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="gatecore-outbox", daemon=True)
        self._thread.start()
        await asyncio.wait_for(ready, timeout=30)

    async def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._ops.put(None)
        thread, self._thread = self._thread, None
        await asyncio.get_running_loop().run_in_executor(None, thread.join, timeout)
        if thread.is_alive():
            log.error("outbox_thread_stuck", timeout_s=timeout)

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        return self._submit(fn, [])

    def insert(self, rows: list[Row]) -> asyncio.Future[int]:
        """Insert rows; the future gives the seq of the first (the rows of one call are consecutive)."""
        return self._submit(None, rows)

    def _submit(self, fn: Callable[[sqlite3.Connection], Any] | None, rows: list[Row]) -> asyncio.Future[Any]:
        if self._thread is None or self._loop is None:
            raise OutboxError("outbox is not open")
        op = _Op(fn, rows, self._loop.create_future())
        self._ops.put(op)
        return op.future

    @staticmethod
    def _settle(ops: list[_Op]) -> None:
        for op in ops:
            if op.future.done():
                continue
            if op.error is not None:
                op.future.set_exception(op.error)
            else:
                op.future.set_result(op.result)

    # -- thread side -------------------------------------------------------------------------------
    def _run(self, ready: asyncio.Future[None]) -> None:
        assert self._loop is not None
        try:
            conn = self._open()
        except BaseException as exc:  # noqa: BLE001 - reported to the opener
            self._loop.call_soon_threadsafe(ready.set_exception, OutboxError(f"cannot open outbox {self.path}: {exc}"))
            return
        self._loop.call_soon_threadsafe(ready.set_result, None)
        try:
            while (first := self._ops.get()) is not None:
                ops = [first]
                while len(ops) < 4096:
                    try:
                        nxt = self._ops.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        self._ops.put(None)
                        break
                    ops.append(nxt)
                self._execute(conn, ops)
                self._loop.call_soon_threadsafe(self._settle, ops)
        finally:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.executescript(_SCHEMA)
        self.bytes = conn.execute(f"SELECT {_SIZE} FROM records").fetchone()[0]
        return conn

    def _execute(self, conn: sqlite3.Connection, ops: list[_Op]) -> None:
        """Run a group in one transaction; if one operation fails, run them one by one so it fails alone."""
        before = self.bytes
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
            self.bytes = before
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
        last = 0
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start : start + _ROWS_PER_INSERT]
            sql = _INSERT + ",".join(["(?,?,?,?,?,?)"] * len(chunk))
            last = conn.execute(sql, [value for row in chunk for value in row]).lastrowid or 0
        first = last - len(rows) + 1  # AUTOINCREMENT rows of one transaction are consecutive
        for op in ops:
            op.result = first
            first += len(op.rows)
        self.bytes += sum(len(row[5]) + ROW_OVERHEAD for row in rows)

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
        "SELECT seq, id, lane, kind, payload, created FROM records WHERE delivered IS NULL AND seq > ? "
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
