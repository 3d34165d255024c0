"""EmbeddingIndex: exact and int8 (+ exact re-rank) inner-product search over unit vectors.

Vectors are L2-normalised on the way in, so scores are cosine similarities.  Slots are
never moved: removing frees a slot for a later add, updating rewrites one slot, and the
arrays grow by doubling, so no mutation re-quantises the gallery.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numba
import numpy as np

from gate_face import kernels

Mode = Literal["int8", "f32"]
Array = np.ndarray[Any, Any]
_ID = re.compile(r"^[^\n\x00]{1,256}$")


class IndexError_(LookupError):
    """An id that must exist does not, or one that must not exist does."""


@dataclass(frozen=True)
class Match:
    id: str
    score: float


@dataclass(frozen=True)
class GalleryDelta:
    """The changes that take a gallery from ``base_version`` to ``version``: the current
    vectors of the ids added or updated, and the ids removed.  A controller holding the
    gallery at ``base_version`` applies it with :meth:`EmbeddingIndex.apply_delta`; one
    holding anything else needs a snapshot (the gallery file) instead."""

    base_version: int
    version: int
    ids: list[str]
    vectors: Array
    removed: list[str]


class StaleDelta(ValueError):
    """A delta that does not start at this gallery's version, or cannot be made from it."""


@dataclass(frozen=True)
class Arrays:
    """The raw state of an index, as persisted (see :mod:`gate_face.store`)."""

    vecs: Array
    g_t: Array
    scales: Array
    qsums: Array
    alive: Array
    ids: list[str]


def normalise(x: Array, dim: int) -> Array:
    """Rows of ``x`` as float32 unit vectors of width ``dim``; a clear error otherwise."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {np.shape(x)}")
    if not np.isfinite(a).all():
        raise ValueError("vectors contain NaN or infinity")
    norms = np.linalg.norm(a, axis=1)
    if (norms == 0).any():
        raise ValueError("a zero vector cannot be normalised")
    out: Array = (a / norms[:, None]).astype(np.float32)
    return out


class EmbeddingIndex:
    """A gallery of id -> unit vector with top-k search and 1:1 verification."""

    def __init__(self, dim: int, *, capacity: int = 1024, rerank: int = 64) -> None:
        if dim <= 0:
            raise ValueError("dim must be positive")
        self.dim = dim
        self.dpad = -(-dim // kernels.GROUP) * kernels.GROUP
        self.rerank = rerank
        self.version = 0
        self._lock = threading.RLock()
        self._n = 0
        self._free: list[int] = []
        self._ids: list[str] = []
        self._slot_of: dict[str, int] | None = {}
        self._changed: dict[str, int] = {}  # id -> version of its last change (this process)
        self._journal_base = 0
        self._alloc(self._round(max(capacity, 1)))

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, dim: int, arrays: Arrays, *, version: int = 0,
                    rerank: int = 64) -> EmbeddingIndex:
        """Wrap persisted arrays (possibly memory-mapped copy-on-write) without copying."""
        index = cls.__new__(cls)
        index.dim, index.dpad, index.rerank, index.version = dim, arrays.vecs.shape[1], rerank, version
        index._lock = threading.RLock()
        index._vecs, index._g_t, index._scales = arrays.vecs, arrays.g_t, arrays.scales
        index._qsums, index._alive = arrays.qsums, arrays.alive
        index._ids = arrays.ids
        index._n = len(arrays.ids)
        index._free = [i for i, x in enumerate(arrays.ids) if not x]
        index._slot_of = None  # built on first use by id
        index._changed, index._journal_base = {}, version
        return index

    def arrays(self) -> Arrays:
        """The state up to the highest used slot (views, not copies)."""
        cap = self._round(self._n)
        return Arrays(self._vecs[: self._n], self._g_t[: cap // kernels.LANES],
                      self._scales[: self._n], self._qsums[: self._n], self._alive[: self._n],
                      list(self._ids))

    @staticmethod
    def _round(n: int) -> int:
        return -(-n // kernels.LANES) * kernels.LANES

    def _alloc(self, cap: int) -> None:
        self._vecs = np.zeros((cap, self.dpad), np.float32)
        self._g_t = np.zeros((cap // kernels.LANES, self.dpad // kernels.GROUP,
                              kernels.LANES, kernels.GROUP), np.int8)
        self._scales = np.zeros(cap, np.float32)
        self._qsums = np.zeros(cap, np.int32)
        self._alive = np.zeros(cap, np.uint8)

    def _grow(self, need: int) -> None:
        cap = self._scales.shape[0]
        if need <= cap:
            return
        old = (self._vecs, self._g_t, self._scales, self._qsums, self._alive)
        self._alloc(self._round(max(need, 2 * cap)))
        n, nb = self._n, self._round(self._n) // kernels.LANES
        self._vecs[:n], self._g_t[:nb] = old[0][:n], old[1][:nb]
        self._scales[:n], self._qsums[:n], self._alive[:n] = old[2][:n], old[3][:n], old[4][:n]

    # ---- ids ----------------------------------------------------------------------------
    def _slots(self) -> dict[str, int]:
        if self._slot_of is None:
            self._slot_of = {x: i for i, x in enumerate(self._ids) if x}
        return self._slot_of

    def __len__(self) -> int:
        return self._n - len(self._free)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._slots()

    def ids(self) -> list[str]:
        return [x for x in self._ids if x]

    # ---- mutation -----------------------------------------------------------------------
    def add(self, ids: Sequence[str], vectors: Array) -> None:
        """Add new ids; an id already present is an error (use :meth:`update`)."""
        with self._lock:
            vecs = self._check(ids, vectors, present=False)
            slots = self._take_slots(len(ids))
            for id_, slot in zip(ids, slots, strict=True):
                self._ids[slot] = id_
                self._slots()[id_] = slot
            self._write(slots, vecs)

    def update(self, ids: Sequence[str], vectors: Array) -> None:
        """Replace the vectors of existing ids in place."""
        with self._lock:
            vecs = self._check(ids, vectors, present=True)
            self._write([self._slots()[x] for x in ids], vecs)

    def upsert(self, ids: Sequence[str], vectors: Array) -> None:
        with self._lock:
            old = [i for i, x in enumerate(ids) if x in self._slots()]
            new = [i for i, x in enumerate(ids) if x not in self._slots()]
            arr = np.atleast_2d(np.asarray(vectors))
            if old:
                self.update([ids[i] for i in old], arr[old])
            if new:
                self.add([ids[i] for i in new], arr[new])

    def remove(self, ids: Iterable[str]) -> int:
        """Remove ids (absent ones are ignored); returns how many were removed."""
        removed = 0
        with self._lock:
            for id_ in ids:
                slot = self._slots().pop(id_, None)
                if slot is None:
                    continue
                self._alive[slot] = 0
                self._ids[slot] = ""
                self._free.append(slot)
                self._changed[id_] = self.version + 1
                removed += 1
            self.version += bool(removed)
        return removed

    def _check(self, ids: Sequence[str], vectors: Array, *, present: bool) -> Array:
        vecs = normalise(vectors, self.dim)
        if len(ids) != vecs.shape[0]:
            raise ValueError(f"{len(ids)} ids for {vecs.shape[0]} vectors")
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate ids in one call")
        for id_ in ids:
            if not isinstance(id_, str) or not _ID.match(id_):
                raise ValueError("an id must be 1-256 characters without newline or NUL")
            if (id_ in self._slots()) != present:
                raise IndexError_(f"id {'not ' if present else 'already '}in the gallery")
        return vecs

    def _take_slots(self, count: int) -> list[int]:
        slots = [self._free.pop() for _ in range(min(count, len(self._free)))]
        fresh = count - len(slots)
        self._grow(self._n + fresh)
        slots += range(self._n, self._n + fresh)
        self._ids += [""] * fresh
        self._n += fresh
        return slots

    def _write(self, slots: Sequence[int], vecs: Array) -> None:
        idx = np.asarray(slots, np.int64)
        padded = np.zeros((len(slots), self.dpad), np.float32)
        padded[:, : self.dim] = vecs
        q, scale, qsum = kernels.quantise(padded)
        self._vecs[idx] = padded
        kernels.pack(self._g_t, q, idx)
        self._scales[idx], self._qsums[idx], self._alive[idx] = scale, qsum, 1
        self.version += 1
        for slot in slots:
            self._changed[self._ids[slot]] = self.version

    # ---- distribution -------------------------------------------------------------------
    def delta_since(self, base_version: int) -> GalleryDelta:
        """The changes since ``base_version`` (made in this process since load or creation)."""
        with self._lock:
            if not self._journal_base <= base_version <= self.version:
                raise StaleDelta(f"no journal from version {base_version} "
                                 f"(kept from {self._journal_base}); send a snapshot")
            changed = [x for x, v in self._changed.items() if v > base_version]
            slots = self._slots()
            ids = [x for x in changed if x in slots]
            vecs = (self._vecs[[slots[x] for x in ids], : self.dim].copy() if ids
                    else np.zeros((0, self.dim), np.float32))
            return GalleryDelta(base_version, self.version, ids, vecs,
                                [x for x in changed if x not in slots])

    def apply_delta(self, delta: GalleryDelta) -> None:
        """Bring this gallery from ``delta.base_version`` to ``delta.version``."""
        with self._lock:
            if delta.base_version != self.version:
                raise StaleDelta(f"delta from version {delta.base_version}, gallery at {self.version}")
            if delta.ids:
                self.upsert(delta.ids, delta.vectors)
            self.remove(delta.removed)
            self.version = delta.version

    # ---- queries ------------------------------------------------------------------------
    def vector(self, id_: str) -> Array:
        slot = self._slots().get(id_)
        if slot is None:
            raise IndexError_("id not in the gallery")
        return np.array(self._vecs[slot, : self.dim])

    def verify(self, id_: str, query: Array) -> float:
        """1:1: the cosine score of ``query`` against the enrolled vector of ``id_``."""
        q = normalise(query, self.dim)[0]
        return float(np.dot(self.vector(id_), q))

    def search(self, query: Array, k: int = 5, *, mode: Mode = "int8") -> list[Match]:
        """1:N: the ``k`` best matches of one query, best first."""
        scores, ids = self.search_batch(query, k, mode=mode)
        return [Match(i, float(s)) for i, s in zip(ids[0], scores[0], strict=False)]

    def search_batch(self, queries: Array, k: int = 5, *,
                     mode: Mode = "int8") -> tuple[Array, list[list[str]]]:
        """Scores ``(nq, k')`` and ids of the best ``k' = min(k, len)`` matches per query."""
        if k < 1:
            raise ValueError("k must be at least 1")
        qn = normalise(queries, self.dim)
        qs = np.zeros((qn.shape[0], self.dpad), np.float32)
        qs[:, : self.dim] = qn
        with self._lock:
            kk = min(k, len(self))
            if kk == 0:
                return np.zeros((qs.shape[0], 0), np.float32), [[] for _ in range(qs.shape[0])]
            if mode == "f32":
                scores, slots = self._search_f32(qs, kk)
            elif mode == "int8":
                scores, slots = self._search_int8(qs, kk)
            else:
                raise ValueError(f"unknown search mode {mode!r}")
            ids = [[self._ids[s] for s in row] for row in slots]
        return scores, ids

    def _heaps(self, nq: int, size: int, units: int) -> tuple[Array, Array]:
        nchunks = max(1, min(units, 4 * numba.get_num_threads()))
        return (np.full((nchunks, nq, size), -np.inf, np.float32),
                np.full((nchunks, nq, size), -1, np.int64))

    def _search_f32(self, qs: Array, k: int) -> tuple[Array, Array]:
        hs, hi = self._heaps(qs.shape[0], k, self._n)
        kernels.scan_f32(self._vecs, self._n, self._alive, qs, hs, hi)
        scores, slots = kernels.merge_heaps(hs, hi, k)
        return scores, slots

    def _search_int8(self, qs: Array, k: int) -> tuple[Array, Array]:
        nq = qs.shape[0]
        keep = max(k, self.rerank)
        rows = -(-nq // kernels.BATCH) * kernels.BATCH if nq > 1 else 1
        q, _, _ = kernels.quantise(qs)
        qu = np.full((rows, self.dpad), 128, np.uint8)
        qu[:nq] = (q.astype(np.int16) + 128).astype(np.uint8)
        hs, hi = self._heaps(nq, keep, self._round(self._n) // kernels.LANES)
        kernels.scan_int8(self._g_t, self._n, self._alive, self._scales, self._qsums, qu,
                          nq, hs, hi)
        _, cand = kernels.merge_heaps(hs, hi, keep)
        scores, slots = kernels.rerank(self._vecs, qs, cand, k)
        return scores, slots
