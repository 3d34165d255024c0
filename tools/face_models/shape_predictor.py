"""dlib's shape predictor (``dlib/image_processing/shape_predictor.h``): a cascade of regression-tree
forests over pixel-difference features (Kazemi and Sullivan, 2014), read from its ``.dat`` file into
arrays that :mod:`gate_face.landmarks` runs.

File layout: version 1; the initial (mean) shape, a column of 2 x parts floats in box-normalised
coordinates; the forests, one per cascade level, each a vector of trees (a tree: its split nodes
``idx1, idx2, thresh`` in heap order, then its leaves, each a shape increment); then, per level, the
feature pixels as an anchor landmark and an offset from it, in the initial shape's coordinates.

Only the 5-point model is converted: :data:`REFUSED` names the 68-point model, whose training data
(iBUG 300-W) may not be used commercially.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from face_models.dlib_format import Array, FormatError, Reader, reading

REFUSED = "shape_predictor_68_face_landmarks.dat"


class WrongModel(FormatError):
    """Not the 5-point model: never converted."""


def _trees(r: Reader) -> tuple[Array, Array, Array, Array]:
    """One forest: split features (trees, splits) x2, thresholds, and leaves (trees, leaves, 2p)."""
    idx1, idx2, thresh, leaves = [], [], [], []
    for _ in range(r.read_int()):
        splits = [(r.read_int(), r.read_int(), r.read_float()) for _ in range(r.read_int())]
        values = [r.float_matrix().reshape(-1) for _ in range(r.read_int())]
        if len(values) != len(splits) + 1:
            raise FormatError(f"a tree has {len(splits)} splits and {len(values)} leaves")
        idx1.append([s[0] for s in splits])
        idx2.append([s[1] for s in splits])
        thresh.append([s[2] for s in splits])
        leaves.append(values)
    try:
        return (np.array(idx1, np.int32), np.array(idx2, np.int32), np.array(thresh, np.float32),
                np.array(leaves, np.float32))
    except ValueError as exc:  # ragged: trees of different depths
        raise FormatError("the trees of a forest differ in depth; only full trees of one depth are supported") from exc


def read(data: bytes, parts: int | None = None) -> dict[str, Array]:
    """The arrays of a shape predictor: ``initial`` (2p,), ``idx1``/``idx2``/``thresh`` (levels, trees,
    splits), ``leaves`` (levels, trees, splits + 1, 2p), ``anchor`` (levels, pixels), ``deltas``
    (levels, pixels, 2).  With ``parts``, a model of another number of points is refused from its first
    bytes, before anything else of it is read."""
    with reading("shape predictor"):
        return _read(data, parts)


def _read(data: bytes, parts: int | None) -> dict[str, Array]:
    r = Reader(data)
    r.version(1)
    initial = r.float_matrix().reshape(-1)
    if parts is not None and initial.size != 2 * parts:
        raise WrongModel(f"the model predicts {initial.size // 2} points, not {parts}")
    forests = [_trees(r) for _ in range(r.read_int())]
    anchors = [[r.read_int() for _ in range(r.read_int())] for _ in range(r.read_int())]
    deltas = [[(r.read_float(), r.read_float()) for _ in range(r.read_int())] for _ in range(r.read_int())]
    if not r.at_end():
        raise FormatError(f"{len(data) - r.pos} bytes left after the shape predictor")
    if not (len(forests) == len(anchors) == len(deltas)) or not forests:
        raise FormatError("the cascade has different numbers of forests and feature sets")
    try:
        out = {"initial": initial.astype(np.float32),
               **{k: np.stack([f[i] for f in forests]) for i, k in enumerate(("idx1", "idx2", "thresh", "leaves"))},
               "anchor": np.array(anchors, np.int32), "deltas": np.array(deltas, np.float32)}
    except ValueError as exc:
        raise FormatError("cascade levels differ in size; only uniform cascades are supported") from exc
    parts = initial.size // 2
    if out["leaves"].shape[-1] != initial.size or out["anchor"].max() >= parts:
        raise FormatError("leaf or anchor sizes do not match the initial shape")
    if max(out["idx1"].max(), out["idx2"].max()) >= out["anchor"].shape[1]:
        raise FormatError("a split refers to a feature pixel that does not exist")
    return out


def convert(source: Path, target: Path) -> Path:
    """Read ``source`` (dlib's 5-point shape predictor) and write its arrays to ``target`` (``.npz``).
    The 68-point model is refused by its name, and any other than a 5-point one by its content."""
    if source.name == REFUSED:
        raise WrongModel(f"{REFUSED} is not converted: its training data forbids commercial use")
    try:
        arrays = read(source.read_bytes(), parts=5)
    except WrongModel as exc:
        raise WrongModel(f"{source.name}: {exc}; only dlib's 5-point model is converted") from exc
    named: dict[str, Any] = dict(arrays)
    with open(target, "wb") as f:
        np.savez(f, **named)
    return target
