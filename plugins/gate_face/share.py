"""Galleries between controllers: snapshots and deltas through the core's shared-state hooks.

A gallery named ``watchlist`` travels as ``gate_face/watchlist``. The payload is an ``.npz`` of the ids
(JSON), the float32 vectors and the removed ids; a snapshot carries every id and replaces the gallery.
Nothing here is logged but names, versions and counts.
"""

from __future__ import annotations

import io
import json

import numpy as np

from gate_face.index import EmbeddingIndex, GalleryDelta, StaleDelta
from gatecore.api import SharedState, SiteView

PREFIX = "gate_face/"


def encode(delta: GalleryDelta) -> bytes:
    out = io.BytesIO()
    np.savez(out, ids=np.frombuffer(json.dumps(delta.ids).encode(), np.uint8),
             removed=np.frombuffer(json.dumps(delta.removed).encode(), np.uint8),
             vectors=np.asarray(delta.vectors, np.float32))
    return out.getvalue()


def decode(update: SharedState) -> GalleryDelta:
    with np.load(io.BytesIO(update.payload), allow_pickle=False) as data:
        ids = json.loads(data["ids"].tobytes())
        removed = json.loads(data["removed"].tobytes())
        vectors = np.array(data["vectors"], np.float32)
    if not (isinstance(ids, list) and isinstance(removed, list) and len(ids) == len(vectors)):
        raise ValueError("malformed gallery payload")
    return GalleryDelta(update.base_version, update.version, ids, vectors, removed)


def snapshot(site: SiteView, name: str, index: EmbeddingIndex) -> SharedState:
    """The whole gallery ``name`` as an update."""
    ids = index.ids()
    vectors = np.stack([index.vector(i) for i in ids]) if ids else np.zeros((0, index.dim), np.float32)
    delta = GalleryDelta(0, index.version, ids, vectors, [])
    return SharedState(site.id, PREFIX + name, "snapshot", 0, index.version, encode(delta))


def delta(site: SiteView, name: str, index: EmbeddingIndex, since: int) -> SharedState:
    """What changed in ``name`` since version ``since`` (raises StaleDelta: send a snapshot)."""
    d = index.delta_since(since)
    return SharedState(site.id, PREFIX + name, "delta", d.base_version, d.version, encode(d))


def apply(index: EmbeddingIndex, update: SharedState) -> bool:
    """Apply a snapshot or delta to ``index``; False for a delta that does not start at its version."""
    d = decode(update)
    if update.kind == "snapshot":
        keep = set(d.ids)
        index.remove([i for i in index.ids() if i not in keep])
        if d.ids:
            index.upsert(d.ids, d.vectors)
        index.version = d.version
        return True
    try:
        index.apply_delta(d)
    except StaleDelta:
        return False
    return True

