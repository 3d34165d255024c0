"""Recogniser data: degraded crops already in the model's input form (grey, ``H x W`` uint8), their texts and
groups, made in shards from ``(seed, shard)`` so any shard can be rebuilt alone; cached as ``.npz`` under a
git-ignored folder (``var/plates-recog`` by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gate_plate.recognise import to_grey
from tools.plates.crops import make_crop
from tools.plates.texts import ALPHABET, GROUPS, random_text

GROUP_NAMES = tuple(GROUPS)
# how often each group is drawn in training: Chinese one-row plates have the most series and Han characters
GROUP_WEIGHTS = {"VN/one_row": 0.15, "VN/two_row": 0.16, "CN/one_row": 0.22, "CN/two_row": 0.17,
                 "container/horizontal": 0.15, "container/vertical": 0.15}
# a second mix for fine-tuning: more of the groups a first training reads worst (Han characters, vertical codes)
HARD_WEIGHTS = {"VN/one_row": 0.05, "VN/two_row": 0.1, "CN/one_row": 0.25, "CN/two_row": 0.3,
                "container/horizontal": 0.05, "container/vertical": 0.25}
# fine-tuning at a new input size on detector-like crops: every group, the Han and vertical ones most
TUNE_WEIGHTS = {"VN/one_row": 0.12, "VN/two_row": 0.13, "CN/one_row": 0.2, "CN/two_row": 0.25,
                "container/horizontal": 0.12, "container/vertical": 0.18}
# stages 4 and 5: the groups short of 98 % at the plates' 192 px view; vertical codes alone for their wide view
LEVEL_WEIGHTS = {"VN/one_row": 0.12, "VN/two_row": 0.25, "CN/one_row": 0.15, "CN/two_row": 0.23,
                 "container/horizontal": 0.25, "container/vertical": 0.0}
TALL_WEIGHTS = {g: float(g == "container/vertical") for g in GROUP_WEIGHTS}
MIXES = {"default": GROUP_WEIGHTS, "hard": HARD_WEIGHTS, "tune": TUNE_WEIGHTS, "level": LEVEL_WEIGHTS,
         "tall": TALL_WEIGHTS}
SHARD = 2000


@dataclass
class Batch:
    images: np.ndarray  # (n, H, W) uint8
    texts: list[str]
    groups: np.ndarray  # (n,) index into GROUP_NAMES


def encode(text: str) -> list[int]:
    """Class indices of ``text`` (0 is the CTC blank)."""
    return [ALPHABET.index(c) + 1 for c in text]


def make(seed: int, shard: int, n: int, height: int, width: int, uniform: bool = False,
         strength: float = 1.0, mix: str = "default") -> Batch:
    """``n`` crops from the generator ``(seed, shard)``, groups drawn by ``mix`` (a key of ``MIXES``) or,
    with ``uniform``, equally often."""
    rng = np.random.default_rng([seed, shard])
    p = None if uniform else np.array([MIXES[mix][g] for g in GROUP_NAMES])
    images, texts, groups = np.empty((n, height, width), np.uint8), [], np.empty(n, np.int64)
    for i in range(n):
        g = int(rng.choice(len(GROUP_NAMES), p=p))
        sample = random_text(rng, GROUP_NAMES[g])
        images[i] = to_grey(make_crop(sample, rng, strength), height, width)
        texts.append(sample.text)
        groups[i] = g
    return Batch(images, texts, groups)


def cached(folder: Path, seed: int, shards: range, height: int, width: int, mix: str = "default") -> Batch:
    """``shards`` of ``seed`` in group ``mix``, built once and then read from ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for shard in shards:
        tag = "" if mix == "default" else f"_{mix}"
        path = folder / f"s{seed}_{shard:03d}_{height}x{width}{tag}.npz"
        if not path.exists():
            b = make(seed, shard, SHARD, height, width, mix=mix)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, images=b.images, texts=np.array(b.texts), groups=b.groups)
            tmp.rename(path)
        with np.load(path) as z:
            parts.append(Batch(z["images"], [str(t) for t in z["texts"]], z["groups"]))
    return Batch(np.concatenate([p.images for p in parts]), [t for p in parts for t in p.texts],
                 np.concatenate([p.groups for p in parts]))
