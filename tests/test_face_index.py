"""EmbeddingIndex against a numpy exact search, mutation, persistence and calibration."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate_face import _vnni, kernels
from gate_face.calibrate import calibrate, pair_scores
from gate_face.index import EmbeddingIndex, IndexError_, StaleDelta
from gate_face.store import GalleryFileError, GalleryStore, load, save

Array = np.ndarray[Any, Any]


def unit(rng: np.random.Generator, n: int, d: int) -> Array:
    x = rng.standard_normal((n, d)).astype(np.float32)
    out: Array = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def mated(rng: np.random.Generator, gallery: Array, rows: Array, noise: float = 0.6) -> Array:
    d = gallery.shape[1]
    q = gallery[rows] + noise * rng.standard_normal((len(rows), d)).astype(np.float32) / np.sqrt(d)
    out: Array = q / np.linalg.norm(q, axis=1, keepdims=True)
    return out


def exact_topk(gallery: Array, queries: Array, k: int) -> tuple[Array, Array]:
    s = queries @ gallery.T
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, order, axis=1), order


def build(gallery: Array, **kw: Any) -> EmbeddingIndex:
    index = EmbeddingIndex(gallery.shape[1], capacity=16, **kw)
    index.add([f"id{i}" for i in range(len(gallery))], gallery)
    return index


def as_rows(ids: list[list[str]]) -> Array:
    return np.array([[int(x[2:]) for x in row] for row in ids])


@pytest.mark.parametrize("dim", [512, 128, 130])
def test_f32_search_equals_numpy_exact(dim: int) -> None:
    rng = np.random.default_rng(dim)
    g = unit(rng, 1500, dim)
    q = np.vstack([mated(rng, g, np.arange(0, 1500, 100)), unit(rng, 15, dim)])
    scores, ids = build(g).search_batch(q, 10, mode="f32")
    ref_s, ref_i = exact_topk(g, q, 10)
    assert (as_rows(ids) == ref_i).all()
    np.testing.assert_allclose(scores, ref_s, rtol=0, atol=2e-6)


@pytest.mark.parametrize("nq", [1, 3, 8, 19])
def test_int8_rerank_recall_at_1_on_mated_and_non_mated(nq: int) -> None:
    rng = np.random.default_rng(nq)
    g = unit(rng, 3000, 512)
    index = build(g)
    for q in (mated(rng, g, rng.choice(3000, nq, replace=False)), unit(rng, nq, 512)):
        scores, ids = index.search_batch(q, 5, mode="int8")
        ref_s, ref_i = exact_topk(g, q, 5)
        assert (as_rows(ids)[:, 0] == ref_i[:, 0]).all()
        np.testing.assert_allclose(scores[:, 0], ref_s[:, 0], atol=2e-6)


def test_int8_scores_are_the_exact_scores_of_the_returned_ids() -> None:
    rng = np.random.default_rng(7)
    g = unit(rng, 800, 256)
    q = mated(rng, g, np.arange(5))
    scores, ids = build(g).search_batch(q, 5)
    exact = np.einsum("qd,qkd->qk", q, g[as_rows(ids)])
    np.testing.assert_allclose(scores, exact, atol=2e-6)
    assert (np.diff(scores, axis=1) <= 0).all()


def _heaps(nq: int) -> tuple[Array, Array]:
    return np.full((3, nq, 8), -np.inf, np.float32), np.full((3, nq, 8), -1, np.int64)


@pytest.mark.parametrize("nq", [1, 9])
def test_int8_kernels_compute_the_quantised_dot_product(nq: int) -> None:
    rng = np.random.default_rng(11)
    index = build(unit(rng, 200, 64))
    qs = unit(rng, nq, 64)
    q, qscale, _ = kernels.quantise(qs)
    rows = 1 if nq == 1 else 16
    qu = np.full((rows, 64), 128, np.uint8)
    qu[:nq] = (q.astype(np.int16) + 128).astype(np.uint8)
    a = index.arrays()
    qg, sg, _ = kernels.quantise(a.vecs)
    want = (q.astype(np.int64) @ qg.astype(np.int64).T) * sg[None, :] * qscale[:, None]
    kernels_to_check = [kernels.scan_int8_portable] + ([kernels.scan_int8_vnni] if _vnni.AVAILABLE else [])
    for scan in kernels_to_check:
        hs, hi = _heaps(nq)
        scan(a.g_t, 200, a.alive, a.scales, a.qsums, qu, nq, hs, hi)
        top_s, top_i = kernels.merge_heaps(hs, hi, 8)
        top_s *= qscale[:, None]
        np.testing.assert_allclose(top_s, np.sort(want, axis=1)[:, ::-1][:, :8], rtol=1e-5)
        np.testing.assert_allclose(np.take_along_axis(want, top_i, axis=1), top_s, rtol=1e-5)


def test_add_update_remove_without_rebuild() -> None:
    rng = np.random.default_rng(3)
    g = unit(rng, 100, 64)
    index = build(g)
    assert index.remove(["id5", "id7", "absent"]) == 2
    assert len(index) == 98 and "id5" not in index
    found = {x for row in index.search_batch(g, 3, mode="f32")[1] for x in row}
    assert not found & {"id5", "id7"}
    new = unit(rng, 1, 64)
    index.add(["fresh"], new)  # reuses a freed slot
    assert index.arrays().vecs.shape[0] == 100
    assert index.search(new[0], 1)[0].id == "fresh"
    index.update(["id0"], g[1])
    assert {m.id for m in index.search(g[1], 2)} == {"id0", "id1"}
    with pytest.raises(IndexError_):
        index.add(["id1"], g[1])
    with pytest.raises(IndexError_):
        index.update(["id5"], g[5])


def test_growth_keeps_existing_vectors() -> None:
    rng = np.random.default_rng(4)
    g = unit(rng, 300, 32)
    index = EmbeddingIndex(32, capacity=16)
    for i in range(0, 300, 37):
        index.add([f"id{j}" for j in range(i, min(i + 37, 300))], g[i: i + 37])
    assert (as_rows(index.search_batch(g, 1)[1])[:, 0] == np.arange(300)).all()


def test_verify_by_id_is_the_cosine_score() -> None:
    rng = np.random.default_rng(5)
    g = unit(rng, 20, 128)
    q = rng.standard_normal(128).astype(np.float32) * 3
    index = build(g)
    assert index.verify("id4", q) == pytest.approx(float(g[4] @ (q / np.linalg.norm(q))), abs=1e-6)
    with pytest.raises(IndexError_):
        index.verify("nobody", q)


@pytest.mark.parametrize("bad", [np.full(64, np.nan), np.zeros(64), np.ones(63)])
def test_bad_vectors_are_rejected_clearly(bad: Array) -> None:
    index = EmbeddingIndex(64)
    with pytest.raises(ValueError):
        index.add(["x"], bad)
    with pytest.raises(ValueError):
        index.search(bad)


def test_empty_gallery_and_k_larger_than_gallery() -> None:
    rng = np.random.default_rng(6)
    index = EmbeddingIndex(64)
    assert index.search(unit(rng, 1, 64)[0]) == []
    index.add(["a", "b"], unit(rng, 2, 64))
    assert len(index.search(unit(rng, 1, 64)[0], 5)) == 2


def test_save_load_round_trip_and_edit_after_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    g = unit(rng, 500, 128)
    index = build(g)
    index.remove(["id3"])
    path = tmp_path / "g.gcidx"
    save(index, path)
    loaded = load(path, verify=True)
    q = mated(rng, g, np.arange(0, 500, 50))
    for mode in ("f32", "int8"):
        a, b = index.search_batch(q, 5, mode=mode), loaded.search_batch(q, 5, mode=mode)
        assert a[1] == b[1] and np.array_equal(a[0], b[0])
    assert len(loaded) == 499 and loaded.version == index.version
    loaded.add(["late"], g[3])
    loaded.remove(["id0"])
    save(loaded, path)
    again = load(path)
    assert again.search(g[3], 1)[0].id == "late" and "id0" not in again


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_files_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    path = tmp_path / "g.gcidx"
    save(build(unit(rng, 40, 64)), path)
    good = path.read_bytes()
    _flip(path, 4096 + 10)  # inside the float vectors: only a full verification sees it
    load(path)
    with pytest.raises(GalleryFileError, match="section 0"):
        load(path, verify=True)
    for offset, message in ((0, "not a gallery"), (30, "header checksum"), (good.rfind(b"id39"), "section 5")):
        path.write_bytes(good)
        _flip(path, offset)
        with pytest.raises(GalleryFileError, match=message):
            load(path)
    path.write_bytes(good[:5000])
    with pytest.raises(GalleryFileError, match="truncated"):
        load(path)


def test_named_galleries_and_calibration_beside_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    store = GalleryStore(tmp_path)
    store.save("watchlist", build(unit(rng, 10, 64)))
    store.save("residents", build(unit(rng, 20, 64)))
    assert store.names() == ["residents", "watchlist"]
    assert len(store.load("residents")) == 20
    cal = calibrate(rng.normal(0, 0.1, 5000), 1e-3)
    store.save_calibration("watchlist", cal)
    assert store.calibration("watchlist") == cal and store.calibration("residents") is None
    with pytest.raises(ValueError):
        store.path("../etc")


def test_threshold_meets_the_target_false_match_rate() -> None:
    rng = np.random.default_rng(12)
    impostor = rng.normal(0.0, 0.1, 20000).astype(np.float32)
    genuine = rng.normal(0.7, 0.1, 2000).astype(np.float32)
    cal = calibrate(impostor, 1e-3, genuine)
    assert cal.fmr <= 1e-3
    below = np.nextafter(np.float32(cal.threshold), np.float32(-np.inf))
    assert np.count_nonzero(impostor >= below) / impostor.size > 1e-3
    assert cal.fnmr == pytest.approx(np.count_nonzero(genuine < cal.threshold) / 2000)
    with pytest.raises(ValueError, match="cannot resolve"):
        calibrate(impostor[:500], 1e-3)


def test_pair_scores_from_a_labelled_set() -> None:
    rng = np.random.default_rng(13)
    centres = unit(rng, 30, 64)
    labels = np.repeat(np.arange(30), 4)
    emb = mated(rng, centres, labels, noise=0.5)
    genuine, impostor = pair_scores(emb, labels)
    assert genuine.size == 30 * 6 and impostor.size == 120 * 119 // 2 - 180
    assert genuine.min() > impostor.max()
    cal = calibrate(impostor, 1e-3, genuine)
    assert cal.fnmr == 0.0


_EXAMPLES = int(os.environ.get("GATECORE_FUZZ_EXAMPLES", "40"))


@settings(max_examples=_EXAMPLES, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "remove", "update"]), st.integers(0, 40)),
                max_size=60), st.integers(0, 2**32 - 1))
def test_any_mutation_sequence_matches_a_dict_model(ops: list[tuple[str, int]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    index = EmbeddingIndex(32, capacity=16)
    model: dict[str, Array] = {}
    for op, key in ops:
        name, vec = f"k{key}", unit(rng, 1, 32)
        if op == "remove":
            index.remove([name])
            model.pop(name, None)
        elif (op == "update") == (name in model):
            (index.update if op == "update" else index.add)([name], vec)
            model[name] = vec[0]
    assert sorted(index.ids()) == sorted(model) and len(index) == len(model)
    if model:
        names = sorted(model)
        g = np.stack([model[n] for n in names])
        q = unit(rng, 4, 32)
        _, ref = exact_topk(g, q, 3)
        for mode in ("f32", "int8"):
            assert index.search_batch(q, 3, mode=mode)[1] == [[names[i] for i in r] for r in ref]


def test_replicas_follow_a_gallery_by_snapshot_and_deltas(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    primary = build(unit(rng, 50, 64))
    save(primary, tmp_path / "snap.gcidx")
    replica = load(tmp_path / "snap.gcidx")
    base = primary.version
    primary.add(["new-1", "new-2"], unit(rng, 2, 64))
    primary.update(["id3"], unit(rng, 1, 64))
    primary.remove(["id4", "new-2"])
    delta = primary.delta_since(base)
    assert sorted(delta.ids) == ["id3", "new-1"] and sorted(delta.removed) == ["id4", "new-2"]
    replica.apply_delta(delta)
    assert replica.version == primary.version and sorted(replica.ids()) == sorted(primary.ids())
    q = unit(rng, 5, 64)
    assert replica.search_batch(q, 3)[1] == primary.search_batch(q, 3)[1]
    with pytest.raises(StaleDelta):
        replica.apply_delta(delta)
    with pytest.raises(StaleDelta):
        load(tmp_path / "snap.gcidx").delta_since(base - 1)
