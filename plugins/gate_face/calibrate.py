"""Score thresholds from a target false-match rate, measured on a calibration set."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Calibration:
    """A threshold and how it was obtained; ``score >= threshold`` is a match."""

    target_fmr: float
    threshold: float
    n_impostor: int
    n_genuine: int
    fmr: float
    fnmr: float | None


def pair_scores(embeddings: Array, labels: Array, *, max_impostor: int = 2_000_000,
                seed: int = 0) -> tuple[Array, Array]:
    """Genuine (same label) and impostor (different label) cosine scores of a labelled set.

    All genuine pairs are scored; impostor pairs are all pairs when there are at most
    ``max_impostor`` of them, else a uniform sample of that many.
    """
    x = np.asarray(embeddings, np.float32)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    lab = np.asarray(labels)
    n = x.shape[0]
    iu, ju = np.triu_indices(n, 1) if n * (n - 1) // 2 <= max_impostor else _sample(n, max_impostor, seed)
    same = lab[iu] == lab[ju]
    scores = np.einsum("ij,ij->i", x[iu], x[ju])
    return scores[same], scores[~same]


def _sample(n: int, m: int, seed: int) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, m)
    j = rng.integers(0, n - 1, m)
    j = j + (j >= i)
    return i, j


def calibrate(impostor: Array, target_fmr: float, genuine: Array | None = None) -> Calibration:
    """The lowest threshold at which at most ``target_fmr`` of the impostor scores match."""
    if not 0.0 < target_fmr < 1.0:
        raise ValueError("target_fmr must be in (0, 1)")
    imp = np.sort(np.asarray(impostor, np.float64))[::-1]
    if imp.size < math.ceil(1.0 / target_fmr):
        raise ValueError(f"{imp.size} impostor scores cannot resolve an FMR of {target_fmr:g}; "
                         f"need at least {math.ceil(1.0 / target_fmr)}")
    allowed = math.floor(target_fmr * imp.size)
    threshold = float(np.nextafter(np.float32(imp[allowed]), np.float32(np.inf)))
    fmr = float(np.count_nonzero(imp >= threshold)) / imp.size
    fnmr = None
    n_gen = 0
    if genuine is not None and len(genuine):
        gen = np.asarray(genuine, np.float64)
        n_gen = gen.size
        fnmr = float(np.count_nonzero(gen < threshold)) / gen.size
    return Calibration(target_fmr, threshold, int(imp.size), n_gen, fmr, fnmr)
