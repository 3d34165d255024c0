"""Durable store-and-forward outbox for records that must arrive (IOC reports, partner link, IGV dispatch).

Records are committed to SQLite (WAL mode) before :meth:`Outbox.put` returns, delivered in order per lane
through a :class:`Transport` with a bounded in-flight window, retried with capped exponential backoff and
marked delivered only when the transport confirms them. Delivered records are kept for a retention window
so that :meth:`Outbox.replay` can send them again.

All SQLite work runs on one dedicated thread that owns the connection. Operations queued while that thread
is busy run together in one transaction (group commit) and their results come back to the event loop in one
hand-off, so a burst of ``put()`` calls from many lanes costs one fsync, not one per record.

Disk budget: records count their payload plus a fixed per-row overhead. Beyond the budget, delivered records
are purged first (oldest first), then pending telemetry (``must=False``) oldest first, counted in
``dropped``. Records that must arrive are never dropped; the outbox reports ``over_budget`` instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import random
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol, Self, TypeVar, runtime_checkable

import structlog

from gatecore.types import new_id

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

class OutboxError(Exception):
    """The outbox cannot do what was asked (closed, storage failure)."""


class TransportError(Exception):
    """The transport cannot deliver right now (not connected, connection lost); the outbox backs off.

    ``confirmed`` names records of the failed call that the peer did confirm before the failure.
    """

    def __init__(self, message: str, *, confirmed: Collection[str] = ()) -> None:
        super().__init__(message)
        self.confirmed = tuple(confirmed)


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One stored record as handed to a transport. ``seq`` is the commit order across all lanes."""

    seq: int
    id: str
    lane: str
    kind: str
    payload: bytes
    created: float


@runtime_checkable
class Transport(Protocol):
    """Where an outbox delivers to (MQTT for the IOC, HTTP for a partner, ...).

    ``publish`` sends ``records`` in the given order and returns the ids the peer confirmed; records not
    returned are retried later (with backoff for their lane). Raising :class:`TransportError` means
    nothing more can be sent now: the outbox backs off and later resends every unconfirmed record, oldest
    first. The outbox may run several ``publish`` calls at once (``window // batch`` of them); a transport
    whose peer does not keep the order of concurrent calls must be used with ``window == batch``.
    """

    async def publish(self, records: Sequence[OutRecord]) -> Collection[str]: ...


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
    write: bool
    durable: bool
    future: asyncio.Future[Any] | None
    rows: list[tuple[Any, ...]] | None = None
    result: Any = None
    error: BaseException | None = None


_STOP = object()
_INSERT = "INSERT INTO records (id, lane, kind, must, created, payload) VALUES "
_ROWS_PER_INSERT = 5000  # 6 parameters a row, under SQLite's 32766


class _Retry(Exception):
    """One operation of a batch failed: roll back and run them one by one."""


class _Store:
    """The SQLite side: a thread owning one connection, running queued operations in group commits."""

    def __init__(self, path: Path, synchronous: Literal["full", "normal"], budget_bytes: int) -> None:
        self.path = path
        self.synchronous = synchronous.upper()
        self.budget_bytes = budget_bytes
        self.bytes = 0
        self.over_budget = False
        self._ops: queue.SimpleQueue[_Op | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: sqlite3.Connection | None = None
        self._sync_now = ""

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
        self._ops.put(_STOP)
        thread, self._thread = self._thread, None
        await asyncio.get_running_loop().run_in_executor(None, thread.join, timeout)
        if thread.is_alive():
            log.error("outbox_thread_stuck", timeout_s=timeout)

    def submit(self, fn: Callable[[sqlite3.Connection], T], *, write: bool, durable: bool = False) -> asyncio.Future[T]:
        return self._submit(_Op(fn, write, durable, None))

    def insert(self, rows: list[tuple[Any, ...]]) -> asyncio.Future[int]:
        """Insert ``(id, lane, kind, must, created, payload)`` rows durably; the future gives the first seq."""
        return self._submit(_Op(None, True, True, None, rows))

    def _submit(self, op: _Op) -> asyncio.Future[Any]:
        if self._thread is None or self._loop is None:
            raise OutboxError("outbox is not open")
        op.future = self._loop.create_future()
        self._ops.put(op)
        return op.future

    @staticmethod
    def _settle(ops: list[_Op]) -> None:
        for op in ops:
            fut = op.future
            if fut is None or fut.done():
                continue
            if op.error is not None:
                fut.set_exception(op.error)
            else:
                fut.set_result(op.result)

    # -- thread side -------------------------------------------------------------------------------
    def _run(self, ready: asyncio.Future[None]) -> None:
        assert self._loop is not None
        try:
            self._conn = self._open()
        except BaseException as exc:  # noqa: BLE001 - reported to the opener
            self._loop.call_soon_threadsafe(ready.set_exception, OutboxError(f"cannot open outbox {self.path}: {exc}"))
            return
        self._loop.call_soon_threadsafe(ready.set_result, None)
        try:
            while True:
                first = self._ops.get()
                if first is _STOP:
                    return
                batch = [first]
                while len(batch) < 4096:
                    try:
                        nxt = self._ops.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        self._ops.put(_STOP)
                        break
                    batch.append(nxt)
                ops = [op for op in batch if isinstance(op, _Op)]
                self._execute(ops)
                self._loop.call_soon_threadsafe(self._settle, ops)
        finally:
            self._conn.close()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(_SCHEMA)
        row = conn.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0), COUNT(*) FROM records").fetchone()
        self.bytes = int(row[0]) + ROW_OVERHEAD * int(row[1])
        return conn

    def _execute(self, ops: list[_Op]) -> None:
        """Run a batch in one transaction with as few SQLite calls as possible: each call releases and
        re-takes the GIL, and re-taking it costs up to the switch interval while the event loop is busy."""
        conn = self._conn
        assert conn is not None
        if not any(op.write for op in ops):
            self._run_ops(conn, ops)
            return
        self._set_sync(conn, any(op.durable for op in ops))
        before = self.bytes
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._insert(conn, [op for op in ops if op.fn is None])
            self._run_ops(conn, [op for op in ops if op.fn is not None])
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
                op = ops[0]
                op.error = op.error or OutboxError(f"outbox write failed: {exc}")
                return
            for op in ops:  # one by one, so that one bad operation fails alone
                op.error = op.result = None
                self._execute([op])

    def _set_sync(self, conn: sqlite3.Connection, durable: bool) -> None:
        want = "FULL" if durable and self.synchronous == "FULL" else "NORMAL"
        if want != self._sync_now:
            conn.execute(f"PRAGMA synchronous={want}")
            self._sync_now = want

    @staticmethod
    def _run_ops(conn: sqlite3.Connection, ops: list[_Op]) -> None:
        for op in ops:
            assert op.fn is not None
            try:
                op.result = op.fn(conn)
            except Exception as exc:  # noqa: BLE001 - handed to the caller's future
                op.error = exc

    def _insert(self, conn: sqlite3.Connection, ops: list[_Op]) -> None:
        rows = [row for op in ops for row in op.rows or ()]
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
            first += len(op.rows or ())
        self.bytes += sum(len(row[5]) + ROW_OVERHEAD for row in rows)

    @staticmethod
    def _count_bytes(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0), COUNT(*) FROM records").fetchone()
        return int(row[0]) + ROW_OVERHEAD * int(row[1])

    def _enforce_budget(self, conn: sqlite3.Connection) -> None:
        """Purge delivered records, then pending telemetry, oldest first, until within the budget."""
        for where, counted in (("delivered IS NOT NULL", False), ("delivered IS NULL AND must = 0", True)):
            while self.bytes > self.budget_bytes:
                rows = conn.execute(
                    f"SELECT seq, LENGTH(payload) FROM records WHERE {where} ORDER BY seq LIMIT 256"
                ).fetchall()
                if not rows:
                    break
                excess = self.bytes - self.budget_bytes
                victims: list[tuple[int]] = []
                for seq, size in rows:
                    victims.append((seq,))
                    excess -= size + ROW_OVERHEAD
                    self.bytes -= size + ROW_OVERHEAD
                    if excess <= 0:
                        break
                conn.executemany("DELETE FROM records WHERE seq = ?", victims)
                if counted:
                    _bump(conn, "dropped", len(victims))
        over = self.bytes > self.budget_bytes
        if over and not self.over_budget:
            log.warning("outbox_over_budget", bytes=self.bytes, budget_bytes=self.budget_bytes,
                        why="records that must arrive are never dropped")
        self.over_budget = over


def _bump(conn: sqlite3.Connection, name: str, n: int) -> None:
    conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + ?",
        (name, n, n),
    )


@dataclass(slots=True)
class _Backoff:
    """Capped exponential backoff with full jitter."""

    base: float
    cap: float
    failures: int = 0

    def next_delay(self) -> float:
        self.failures += 1
        return random.uniform(0.5, 1.0) * min(self.cap, self.base * 2.0 ** min(self.failures - 1, 30))

    def reset(self) -> None:
        self.failures = 0


@dataclass(slots=True)
class _Delivery:
    """State of one running delivery loop.

    ``buffer`` holds records read ahead (or handed over by ``put``) in commit order, up to ``cursor``.
    A reset (transport failure, a lane's backoff ended, idle poll) empties it and reads again from the
    oldest pending record; ``generation`` lets a read that was under way when that happened be ignored.
    """

    buffer: deque[OutRecord] = field(default_factory=deque)
    cursor: int = 0
    at_end: bool = False
    generation: int = 0
    reading: asyncio.Future[list[OutRecord]] | None = None
    reading_generation: int = 0
    acked_during_read: set[str] = field(default_factory=set)  # a read under way still sees these as pending
    inflight: dict[str, str] = field(default_factory=dict)  # id -> lane
    calls: dict[asyncio.Task[Collection[str]], Sequence[OutRecord]] = field(default_factory=dict)
    blocked: dict[str, float] = field(default_factory=dict)  # lane -> monotonic time it may retry
    lane_backoff: dict[str, _Backoff] = field(default_factory=dict)
    down_until: float = 0.0
    draining: bool = False  # a transport error: wait for every call to end, then resend from the oldest
    rescanned: float = 0.0

    def reset(self) -> None:
        self.buffer.clear()
        self.cursor, self.at_end = 0, False
        self.generation += 1


class Outbox:
    """A durable, ordered, at-least-once outbox. Use as ``async with Outbox(path) as box: ...``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        budget_bytes: int = 256 * 1024 * 1024,
        retention_s: float = 7 * 86400.0,
        window: int = 256,
        batch: int = 64,
        backoff_base_s: float = 0.05,
        backoff_max_s: float = 5.0,
        poll_s: float = 1.0,
        call_timeout_s: float = 30.0,
        rescan_s: float = 5.0,
        synchronous: Literal["full", "normal"] = "full",
    ) -> None:
        if window < 1 or batch < 1:
            raise ValueError("window and batch must be >= 1")
        self.path = Path(path)
        self.retention_s = retention_s
        self.window = window
        self.batch = min(batch, window)
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.poll_s = poll_s
        self.call_timeout_s = call_timeout_s
        self.rescan_s = rescan_s  # a busy loop reads the pending set again this often (an idle one: poll_s)
        self._store = _Store(self.path, synchronous, budget_bytes)
        self._wake = asyncio.Event()
        self._stale = False
        self._idle = asyncio.Event()
        self._delivery: _Delivery | None = None
        self.read_ahead = max(1024, 4 * window)
        self._last_purge = -1e9
        self.delivered = 0
        self.retries = 0

    async def open(self) -> None:
        await self._store.start()

    async def close(self) -> None:
        await self._store.stop()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- producing -------------------------------------------------------------------------------
    async def put(
        self, lane: str, kind: str, payload: bytes | Mapping[str, Any], *, id: str | None = None, must: bool = True
    ) -> str:
        """Store one record durably; returns its id once the transaction has committed."""
        ids = await self.put_many([(lane, kind, payload, id, must)])
        return ids[0]

    async def put_many(
        self, items: Iterable[tuple[str, str, bytes | Mapping[str, Any], str | None, bool]]
    ) -> list[str]:
        """Store several records in one transaction: ``(lane, kind, payload, id or None, must)`` each."""
        now = time.time()
        rows = []
        for lane, kind, payload, rid, must in items:
            data = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
            rows.append((rid or new_id(), lane, kind, int(must), now, data))
        first = await self._store.insert(rows)
        records = [OutRecord(first + i, r[0], r[1], r[2], r[5], r[4]) for i, r in enumerate(rows)]
        self._idle.clear()
        if not self._offer(first, records):
            self._stale = True
        self._wake.set()
        return [r[0] for r in rows]

    # -- inspecting and replaying ----------------------------------------------------------------
    async def status(self) -> OutboxStatus:
        store = self._store

        def read(conn: sqlite3.Connection) -> OutboxStatus:
            lanes = tuple(
                LaneBacklog(lane, n, oldest)
                for lane, n, oldest in conn.execute(
                    "SELECT lane, COUNT(*), MIN(created) FROM records WHERE delivered IS NULL "
                    "GROUP BY lane ORDER BY lane"
                )
            )
            kept = conn.execute("SELECT COUNT(*) FROM records WHERE delivered IS NOT NULL").fetchone()[0]
            row = conn.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
            dropped = int(row[0]) if row else 0
            return OutboxStatus(lanes, sum(b.pending for b in lanes), kept, dropped, store.bytes, store.budget_bytes)

        return await store.submit(read, write=False)

    async def replay(self, since: float, lane: str | None = None) -> int:
        """Mark records delivered and created at or after ``since`` (epoch s) pending again; returns how many."""

        def mark(conn: sqlite3.Connection) -> int:
            sql = "UPDATE records SET delivered = NULL WHERE delivered IS NOT NULL AND created >= ?"
            args: tuple[Any, ...] = (since,)
            if lane is not None:
                sql, args = sql + " AND lane = ?", (since, lane)
            return conn.execute(sql, args).rowcount

        n: int = await self._store.submit(mark, write=True, durable=True)
        if self._delivery is not None:
            self._delivery.reset()
        self._idle.clear()
        self._wake.set()
        return n

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until the delivery loop has nothing left to send (True), or ``timeout`` s (False)."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def pending(self, limit: int = 1000) -> list[OutRecord]:
        """The oldest pending records (for tools and tests)."""
        return await self._store.submit(lambda conn: _read_pending(conn, 0, limit), write=False)

    # -- delivering ------------------------------------------------------------------------------
    async def deliver(self, transport: Transport) -> None:
        """Deliver pending records through ``transport`` until cancelled."""
        if self._delivery is not None:
            raise OutboxError("a delivery loop is already running on this outbox")
        st = self._delivery = _Delivery(rescanned=time.monotonic())
        glob = _Backoff(self.backoff_base_s, self.backoff_max_s)
        try:
            while True:
                await self._maybe_purge()
                now = time.monotonic()
                self._unblock_lanes(st, now)
                if self._stale:
                    self._stale = False
                    st.at_end = False
                if not st.draining and now >= st.down_until:
                    self._dispatch(st, transport)
                self._read_ahead(st)
                idle = await self._wait(st, now)
                self._collect(st, glob)
                if not (st.calls or st.buffer or st.blocked or st.reading or self._stale) and st.at_end:
                    self._idle.set()
                due = time.monotonic() - st.rescanned >= self.rescan_s
                if st.at_end and st.reading is None and not st.buffer and (idle or due):
                    st.reset()  # pick up records another process made pending (gatecore outbox --replay)
                    st.rescanned = time.monotonic()
        finally:
            self._delivery = None
            for task in st.calls:
                task.cancel()
            if st.calls:
                await asyncio.wait(st.calls, timeout=5)

    def _offer(self, first_seq: int, records: list[OutRecord]) -> bool:
        """Hand freshly committed records to a caught-up delivery loop, saving it a read."""
        st = self._delivery
        if st is None or not st.at_end or st.reading is not None or first_seq != st.cursor + 1:
            return False
        st.buffer.extend(records)
        st.cursor = records[-1].seq
        return True

    def _dispatch(self, st: _Delivery, transport: Transport) -> None:
        while st.buffer and len(st.inflight) < self.window:
            chunk: list[OutRecord] = []
            limit = min(self.batch, self.window - len(st.inflight))
            while st.buffer and len(chunk) < limit:
                r = st.buffer.popleft()
                if r.lane not in st.blocked and r.id not in st.inflight:
                    chunk.append(r)
            if not chunk:
                return
            for r in chunk:
                st.inflight[r.id] = r.lane
            task = asyncio.create_task(
                asyncio.wait_for(transport.publish(chunk), self.call_timeout_s), name="outbox-publish"
            )
            st.calls[task] = chunk

    def _read_ahead(self, st: _Delivery) -> None:
        if st.reading is not None or st.at_end or st.draining or len(st.buffer) >= self.window:
            return
        st.reading = self._store.submit(
            partial(_read_pending, after=st.cursor, limit=self.read_ahead), write=False
        )
        st.reading_generation = st.generation
        st.acked_during_read.clear()

    async def _wait(self, st: _Delivery, now: float) -> bool:
        """Wait for a call or read to finish, new records, or the next timer; True when nothing happened."""
        timeout = self.poll_s
        if st.down_until > now:
            timeout = min(timeout, st.down_until - now)
        if st.blocked:
            timeout = min(timeout, max(0.0, min(st.blocked.values()) - now))
        waiters: set[asyncio.Future[Any]] = set(st.calls)
        if st.reading is not None:
            waiters.add(st.reading)
        self._wake.clear()
        can_send = st.buffer and len(st.inflight) < self.window and now >= st.down_until and not st.draining
        if self._stale or can_send:
            await asyncio.sleep(0)  # more to do at once, but let the calls and reads under way progress
            return False
        wake = asyncio.create_task(self._wake.wait())
        waiters.add(wake)
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not wake.done():
            wake.cancel()
        return not done

    def _collect(self, st: _Delivery, glob: _Backoff) -> None:
        if st.reading is not None and st.reading.done():
            self._take_read(st, st.reading)
            st.reading = None
        acked: list[str] = []
        for task in [t for t in st.calls if t.done()]:
            chunk = st.calls.pop(task)
            for r in chunk:
                st.inflight.pop(r.id, None)
            confirmed: Collection[str] = ()
            if task.cancelled():
                st.draining = True
            elif (exc := task.exception()) is not None:
                if isinstance(exc, TransportError):
                    confirmed = exc.confirmed
                elif not isinstance(exc, TimeoutError):
                    log.error("outbox_transport_failed", error=repr(exc))
                st.draining = True
            else:
                confirmed = task.result()
            ok = set(confirmed)
            acked.extend(r.id for r in chunk if r.id in ok)
            if not st.draining:
                self._backoff_lanes(st, chunk, ok)
        if acked:
            if st.reading is not None:
                st.acked_during_read.update(acked)
            self._ack(acked)
            glob.reset()
        if st.draining and not st.calls:
            st.draining = False
            st.down_until = time.monotonic() + glob.next_delay()
            st.reset()
            self.retries += 1

    def _take_read(self, st: _Delivery, fut: asyncio.Future[list[OutRecord]]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            log.error("outbox_read_failed", error=repr(None if fut.cancelled() else fut.exception()))
            return
        if st.reading_generation != st.generation:
            return
        rows = fut.result()
        st.at_end = len(rows) < self.read_ahead
        if rows:
            st.cursor = rows[-1].seq
            st.buffer.extend(r for r in rows if r.id not in st.inflight and r.id not in st.acked_during_read)

    def _backoff_lanes(self, st: _Delivery, chunk: Sequence[OutRecord], ok: set[str]) -> None:
        for lane in {r.lane for r in chunk if r.id not in ok}:
            backoff = st.lane_backoff.setdefault(lane, _Backoff(self.backoff_base_s, self.backoff_max_s))
            st.blocked[lane] = time.monotonic() + backoff.next_delay()
            self.retries += 1
        for lane in {r.lane for r in chunk if r.id in ok} - st.blocked.keys():
            if lane in st.lane_backoff:
                st.lane_backoff[lane].reset()

    def _unblock_lanes(self, st: _Delivery, now: float) -> None:
        ready = [lane for lane, until in st.blocked.items() if until <= now]
        for lane in ready:
            del st.blocked[lane]
        if ready:
            st.reset()

    def _ack(self, ids: list[str]) -> None:
        now = time.time()
        self.delivered += len(ids)
        fut = self._store.submit(partial(_mark_delivered, when=now, ids=ids), write=True)
        fut.add_done_callback(_log_failure)

    async def _maybe_purge(self) -> None:
        if time.monotonic() - self._last_purge >= 60:
            self._last_purge = time.monotonic()
            await self.purge()

    async def purge(self) -> int:
        """Delete delivered records older than the retention window; returns how many."""
        cutoff = time.time() - self.retention_s
        store = self._store

        def purge(conn: sqlite3.Connection) -> int:
            freed = conn.execute(
                "SELECT COALESCE(SUM(LENGTH(payload)), 0), COUNT(*) FROM records "
                "WHERE delivered IS NOT NULL AND delivered < ?",
                (cutoff,),
            ).fetchone()
            n = conn.execute("DELETE FROM records WHERE delivered IS NOT NULL AND delivered < ?", (cutoff,)).rowcount
            store.bytes -= int(freed[0]) + ROW_OVERHEAD * int(freed[1])
            return n

        n: int = await store.submit(purge, write=True)
        return n


def _log_failure(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("outbox_mark_delivered_failed", error=repr(fut.exception()))


def _mark_delivered(conn: sqlite3.Connection, when: float, ids: list[str]) -> int:
    n = 0
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        sql = f"UPDATE records SET delivered = ? WHERE id IN ({','.join('?' * len(chunk))})"
        n += conn.execute(sql, [when, *chunk]).rowcount
    return n


def _read_pending(conn: sqlite3.Connection, after: int, limit: int) -> list[OutRecord]:
    return [
        OutRecord(*row)
        for row in conn.execute(
            "SELECT seq, id, lane, kind, payload, created FROM records "
            "WHERE delivered IS NULL AND seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        )
    ]
