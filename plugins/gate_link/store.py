"""What a receiving side remembers, in one SQLite file (WAL) used by one thread of its own.

- ``seen``: every transmission taken (message id and ``sent``), kept while its ``sent`` is inside the
  time window: a replay is refused, also after a restart; older ones fail the window check anyway.
- ``applied``: the ids of the messages applied (or found stale), kept ``retention_s``: a message sent
  again is receipted as a duplicate and not applied twice. Past the retention the versions still tell.
- ``current``: per sender, kind and subject the newest version applied, with the message: an update
  older than it (or as old) is stale and never overwrites it.
- ``log``: every application in the order it happened (what the tests and ``gatecore link status`` read).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, TypeVar

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (id TEXT NOT NULL, sent TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (id, sent));
CREATE INDEX IF NOT EXISTS seen_expires ON seen (expires);
CREATE TABLE IF NOT EXISTS applied (id TEXT PRIMARY KEY, status TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS applied_at ON applied (at);
CREATE TABLE IF NOT EXISTS current (sender TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
    version INTEGER NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (sender, kind, subject));
CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, kind TEXT NOT NULL,
    subject TEXT NOT NULL, version INTEGER NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS log_at ON log (at);
"""


class StoreError(Exception):
    """The link's state file cannot be opened or written."""


class LinkStore:
    """The receiver's state; :meth:`run` runs a function on the store's thread inside one transaction."""

    def __init__(self, path: str | Path, synchronous: Literal["full", "normal"] = "full") -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self._pool: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        pool = ThreadPoolExecutor(1, thread_name_prefix="gate-link-store")
        try:
            self._conn = await asyncio.get_running_loop().run_in_executor(pool, self._open)
        except (sqlite3.Error, OSError) as exc:
            pool.shutdown(wait=False)
            raise StoreError(f"cannot open {self.path}: {exc}") from None
        self._pool = pool

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.executescript(_SCHEMA)
        return conn

    async def close(self) -> None:
        pool, conn, self._pool = self._pool, self._conn, None
        if pool is None or conn is None:
            return
        await asyncio.get_running_loop().run_in_executor(pool, conn.close)
        pool.shutdown(wait=False)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` on the store's thread, in one transaction (rolled back if it raises)."""
        if self._pool is None or self._conn is None:
            raise StoreError("the link store is not open")
        conn = self._conn
        return await asyncio.get_running_loop().run_in_executor(self._pool, _transaction, conn, fn)


def _transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


# -- the statements (each runs on the store's thread) ---------------------------------------------------
def first_sight(conn: sqlite3.Connection, mid: str, sent: str, expires: float) -> bool:
    """Record a transmission; False if it was taken before (a replay)."""
    return conn.execute("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", (mid, sent, expires)).rowcount == 1


def applied_status(conn: sqlite3.Connection, mid: str) -> str | None:
    row = conn.execute("SELECT status FROM applied WHERE id = ?", (mid,)).fetchone()
    return None if row is None else str(row[0])


def current_version(conn: sqlite3.Connection, sender: str, kind: str, subject: str) -> int:
    row = conn.execute("SELECT version FROM current WHERE sender = ? AND kind = ? AND subject = ?",
                       (sender, kind, subject)).fetchone()
    return 0 if row is None else int(row[0])


def apply(conn: sqlite3.Connection, sender: str, kind: str, subject: str, version: int, mid: str, body: bytes,
          at: float) -> None:
    conn.execute("INSERT INTO current VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sender, kind, subject) DO UPDATE "
                 "SET version = excluded.version, id = excluded.id, body = excluded.body, at = excluded.at",
                 (sender, kind, subject, version, mid, body, at))
    conn.execute("INSERT INTO log (id, kind, subject, version, at) VALUES (?, ?, ?, ?, ?)",
                 (mid, kind, subject, version, at))
    remember(conn, mid, "applied", at)


def remember(conn: sqlite3.Connection, mid: str, status: str, at: float) -> None:
    conn.execute("INSERT OR IGNORE INTO applied VALUES (?, ?, ?)", (mid, status, at))


def current(conn: sqlite3.Connection, sender: str, kind: str) -> list[tuple[str, int, bytes]]:
    """(subject, version, body) of everything of ``kind`` held from ``sender``."""
    return [(str(s), int(v), bytes(b)) for s, v, b in conn.execute(
        "SELECT subject, version, body FROM current WHERE sender = ? AND kind = ?", (sender, kind))]


def log(conn: sqlite3.Connection, kind: str | None = None) -> list[tuple[str, str, str, int]]:
    """(id, kind, subject, version) of every application, in order."""
    sql = "SELECT id, kind, subject, version FROM log"
    rows = conn.execute(sql + " WHERE kind = ? ORDER BY seq" if kind else sql + " ORDER BY seq",
                        (kind,) if kind else ())
    return [(str(i), str(k), str(s), int(v)) for i, k, s, v in rows]


def prune(conn: sqlite3.Connection, now: float, retention_s: float) -> int:
    """Forget transmissions out of the window and applications older than the retention."""
    n = conn.execute("DELETE FROM seen WHERE expires < ?", (now,)).rowcount
    n += conn.execute("DELETE FROM applied WHERE at < ?", (now - retention_s,)).rowcount
    return n + conn.execute("DELETE FROM log WHERE at < ?", (now - retention_s,)).rowcount
