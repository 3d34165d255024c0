"""numba kernels of the embedding index: scans, heaps, re-ranking, packing.

Layouts (``dpad`` = dimension rounded up to a multiple of 4, zero padded):

* ``vecs``: float32 ``(capacity, dpad)`` row-major, the exact vectors;
* ``g_t``: int8 ``(capacity // 16, dpad // 4, 16, 4)``, the quantised vectors interleaved
  sixteen at a time (see :mod:`gate_face._vnni`), with one float32 scale and the
  int32 sum of the quantised components per vector;
* queries: float32 ``(nq, dpad)``; quantised queries are *unsigned* bytes ``q + 128`` so that
  ``sum(u * g) - 128 * sum(g) = sum(q * g)``.

Every scan splits the gallery into chunks, one ``prange`` iteration each, and keeps a
min-heap of the best candidates per chunk and query; the caller merges the chunks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from gate_face import _vnni

LANES = 16
GROUP = 4
BATCH = 8

_BLOCK1: Any = _vnni.make_block_kernel(1)
_BLOCK8: Any = _vnni.make_block_kernel(BATCH)
_JIT: dict[str, Any] = {"nogil": True, "fastmath": True, "cache": True}


@njit(inline="always", **_JIT)  # type: ignore[untyped-decorator]
def _heap_push(hs: Any, hi: Any, score: float, slot: int) -> None:
    """Offer ``(score, slot)`` to the min-heap ``hs``/``hi`` (``hs[0]`` is its smallest)."""
    if score <= hs[0]:
        return
    hs[0] = score
    hi[0] = slot
    size = hs.shape[0]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        if child + 1 < size and hs[child + 1] < hs[child]:
            child += 1
        if hs[child] >= hs[pos]:
            return
        hs[pos], hs[child] = hs[child], hs[pos]
        hi[pos], hi[child] = hi[child], hi[pos]
        pos = child


@njit(inline="always", **_JIT)  # type: ignore[untyped-decorator]
def _span(c: int, total: int, nchunks: int) -> tuple[int, int]:
    """The range of units of chunk ``c`` when ``total`` units are split in ``nchunks``."""
    per = (total + nchunks - 1) // nchunks
    return c * per, min(total, (c + 1) * per)


@njit(inline="always", **_JIT)  # type: ignore[untyped-decorator]
def _block_terms(block: int, n: int, alive: Any, scales: Any, qsums: Any, terms: Any) -> None:
    """Per-lane correction ``128 * qsum`` and scale of one block; 0 scale for dead lanes."""
    base = block * LANES
    for w in range(LANES):
        slot = base + w
        live = slot < n and alive[slot]
        terms[0, w] = np.float32(128 * qsums[slot]) if live else np.float32(0)
        terms[1, w] = scales[slot] if live else np.float32(0)


@njit(inline="always", **_JIT)  # type: ignore[untyped-decorator]
def _offer(approx: Any, mask: int, j0: int, nq: int, block: int, terms: Any, hs: Any,
           hi: Any) -> None:
    """Offer the approximate scores of the queries flagged in ``mask`` to their heaps."""
    for jj in range(min(approx.shape[0], nq - j0)):
        if not (mask >> jj) & 1:
            continue
        j = j0 + jj
        for w in range(LANES):
            if terms[1, w] != 0:
                _heap_push(hs[j], hi[j], approx[jj, w], block * LANES + w)


@njit(inline="always", **_JIT)  # type: ignore[untyped-decorator]
def _thresholds(hs: Any, j0: int, nq: int, thr: Any) -> None:
    for jj in range(thr.shape[0]):
        thr[jj] = hs[j0 + jj, 0] if j0 + jj < nq else np.inf


@njit(parallel=True, **_JIT)  # type: ignore[untyped-decorator]
def scan_int8_vnni(g_t: Any, n: int, alive: Any, scales: Any, qsums: Any, qu: Any,
                   nq: int, hs: Any, hi: Any) -> None:
    """Approximate scores (up to each query's positive scale) of ``nq`` queries against
    ``n`` slots (AVX-512 VNNI only)."""
    d4 = g_t.shape[1]
    rows = 1 if nq == 1 else BATCH
    for c in prange(hs.shape[0]):
        approx = np.empty((rows, LANES), np.float32)
        thr = np.empty(rows, np.float32)
        terms = np.empty((2, LANES), np.float32)
        first, end = _span(c, (n + LANES - 1) // LANES, hs.shape[0])
        for b in range(first, end):
            boff = b * d4 * LANES * GROUP
            _block_terms(b, n, alive, scales, qsums, terms)
            for j0 in range(0, nq, rows):
                _thresholds(hs[c], j0, nq, thr)
                if rows == 1:
                    mask = _BLOCK1(g_t, boff, qu, 0, d4 * GROUP, d4, terms, thr, approx)
                else:
                    mask = _BLOCK8(g_t, boff, qu, j0 * d4 * GROUP, d4 * GROUP, d4, terms, thr,
                                   approx)
                if mask:
                    _offer(approx, mask, j0, nq, b, terms, hs[c], hi[c])


@njit(parallel=True, **_JIT)  # type: ignore[untyped-decorator]
def scan_int8_portable(g_t: Any, n: int, alive: Any, scales: Any, qsums: Any, qu: Any,
                       nq: int, hs: Any, hi: Any) -> None:
    """The same result as :func:`scan_int8_vnni` with plain loops, on any CPU."""
    d4 = g_t.shape[1]
    for c in prange(hs.shape[0]):
        loc = np.empty(LANES, np.int32)
        approx = np.empty((1, LANES), np.float32)
        terms = np.empty((2, LANES), np.float32)
        first, end = _span(c, (n + LANES - 1) // LANES, hs.shape[0])
        for b in range(first, end):
            _block_terms(b, n, alive, scales, qsums, terms)
            for j in range(nq):
                loc[:] = 0
                for k in range(d4):
                    for t in range(GROUP):
                        qv = np.int32(qu[j, k * GROUP + t])
                        for w in range(LANES):
                            loc[w] += np.int32(g_t[b, k, w, t]) * qv
                for w in range(LANES):
                    approx[0, w] = (np.float32(loc[w]) - terms[0, w]) * terms[1, w]
                _offer(approx, 1, j, j + 1, b, terms, hs[c], hi[c])


@njit(inline="always", **_JIT)  # type: ignore[untyped-decorator]
def _offer_row(hs: Any, hi: Any, alive: Any, slot: int, score: float) -> None:
    if alive[slot]:
        _heap_push(hs, hi, score, slot)


@njit(parallel=True, **_JIT)  # type: ignore[untyped-decorator]
def scan_f32(vecs: Any, n: int, alive: Any, queries: Any, hs: Any, hi: Any) -> None:
    """Exact inner products of every query with every live slot below ``n``; for a batch,
    four gallery rows at a time (each query element is loaded once for four products)."""
    nq, d = queries.shape
    for c in prange(hs.shape[0]):
        first, end = _span(c, n, hs.shape[0])
        i = first
        while nq > 1 and i + 4 <= end:
            v0, v1, v2, v3 = vecs[i], vecs[i + 1], vecs[i + 2], vecs[i + 3]
            for j in range(nq):
                q = queries[j]
                a0 = a1 = a2 = a3 = np.float32(0.0)
                for k in range(d):
                    qk = q[k]
                    a0 += v0[k] * qk
                    a1 += v1[k] * qk
                    a2 += v2[k] * qk
                    a3 += v3[k] * qk
                if max(max(a0, a1), max(a2, a3)) > hs[c, j, 0]:
                    _offer_row(hs[c, j], hi[c, j], alive, i, a0)
                    _offer_row(hs[c, j], hi[c, j], alive, i + 1, a1)
                    _offer_row(hs[c, j], hi[c, j], alive, i + 2, a2)
                    _offer_row(hs[c, j], hi[c, j], alive, i + 3, a3)
            i += 4
        for r in range(i, end):
            for j in range(nq):
                acc = np.float32(0.0)
                for k in range(d):
                    acc += vecs[r, k] * queries[j, k]
                _offer_row(hs[c, j], hi[c, j], alive, r, acc)


@njit(**_JIT)  # type: ignore[untyped-decorator]
def merge_heaps(hs: Any, hi: Any, keep: int) -> Any:
    """The ``keep`` best ``(score, slot)`` of every query over all chunks, best first."""
    nchunks, nq, size = hs.shape
    out_s = np.full((nq, keep), -np.inf, np.float32)
    out_i = np.full((nq, keep), -1, np.int64)
    for j in range(nq):
        flat_s = hs[:, j, :].copy().reshape(nchunks * size)
        flat_i = hi[:, j, :].copy().reshape(nchunks * size)
        order = np.argsort(-flat_s, kind="mergesort")
        best = order[flat_i[order] >= 0][:keep]
        out_s[j, : best.size] = flat_s[best]
        out_i[j, : best.size] = flat_i[best]
    return out_s, out_i


@njit(**_JIT)  # type: ignore[untyped-decorator]
def rerank(vecs: Any, queries: Any, cand: Any, k: int) -> Any:
    """Exact scores of the candidate slots (``-1`` = none); the ``k`` best, best first."""
    nq, m = cand.shape
    d = queries.shape[1]
    out_s = np.full((nq, k), -np.inf, np.float32)
    out_i = np.full((nq, k), -1, np.int64)
    for j in range(nq):
        exact = np.full(m, -np.inf, np.float32)
        for r in range(m):
            slot = cand[j, r]
            if slot >= 0:
                acc = np.float32(0.0)
                for t in range(d):
                    acc += vecs[slot, t] * queries[j, t]
                exact[r] = acc
        order = np.argsort(-exact, kind="mergesort")
        for r in range(min(k, m)):
            if cand[j, order[r]] < 0:
                break
            out_s[j, r] = exact[order[r]]
            out_i[j, r] = cand[j, order[r]]
    return out_s, out_i


@njit(**_JIT)  # type: ignore[untyped-decorator]
def pack(g_t: Any, rows: Any, slots: Any) -> None:
    """Write quantised ``rows`` (``(m, dpad)`` int8) into the interleaved slots."""
    d4 = g_t.shape[1]
    for r in range(rows.shape[0]):
        b, w = divmod(slots[r], LANES)
        for k in range(d4):
            for t in range(GROUP):
                g_t[b, k, w, t] = rows[r, k * GROUP + t]


def quantise(x: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], ...]:
    """Per-vector symmetric int8: ``(q, scale, qsum)`` with ``x ~= q * scale``."""
    peak = np.abs(x).max(axis=1)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(x / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale, q.sum(axis=1, dtype=np.int32)


def scan_int8(*args: Any) -> None:
    """Dispatch to the VNNI kernel when the CPU has it, else the portable one."""
    (scan_int8_vnni if _vnni.AVAILABLE else scan_int8_portable)(*args)
