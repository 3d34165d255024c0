"""The plate and container-code recogniser: one rectified crop in, its text, kind, country, layout and a
confidence out (onnxruntime on the CPU; blocking, so the plugin runs it in an executor).

The model folder (``models/recog/`` beside this file by default) holds ``model.onnx`` and ``config.json``:
input size, alphabet, the groups (kind/country/layout) the model tells apart. A crop more than twice as tall as
it is wide (``is_tall``) is a vertical container code: it is turned a quarter turn counter-clockwise (its first
character on the left) before reading, as in training, and read ``tall_width`` wide (the config's; twice a
plate's view): eleven characters stacked end to end are several times as long as a plate's text, and squeezed
into the plate's view their glyphs lose the detail that tells 3 from 8. A ``province`` entry in the config
names the folder (under this one) of the province head (``gate_plate.province``), which reads the first
character of the crops read as Chinese plates; a ``check_digit_repair`` entry lets a container code whose check
digit fails take the likeliest single substitution that makes it valid (``repair_code``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gatecore.api import normalise_plate, valid_container_code

from .province import ProvinceHead, open_model

DEFAULT_FOLDER = Path(__file__).parent / "models" / "recog"


@dataclass(frozen=True)
class CropRead:
    text: str  # normalised (gatecore.api.normalise_plate), rows joined top to bottom, Han kept
    kind: str  # "plate" or "container"
    country: str  # "VN", "CN" or "" for a container code
    layout: str  # "one_row", "two_row", "horizontal", "vertical"
    confidence: float  # 0..1: the product of the characters' probabilities and the group's


def check_crop(crop: Any) -> np.ndarray:
    """``crop`` as a BGR uint8 array; a clear ``ValueError`` for anything else (empty, wrong shape or type)."""
    if not isinstance(crop, np.ndarray):
        raise ValueError(f"a crop must be a numpy image array, not {type(crop).__name__}")
    if crop.size == 0 or crop.ndim not in (2, 3) or min(crop.shape[:2]) < 2:
        raise ValueError(f"a crop must be a non-empty image (H x W or H x W x 3), got shape {crop.shape}")
    if crop.ndim == 3 and crop.shape[2] not in (1, 3, 4):
        raise ValueError(f"a crop has 1, 3 or 4 channels, got {crop.shape[2]}")
    if crop.dtype != np.uint8:
        raise ValueError(f"a crop must be 8-bit (uint8), got {crop.dtype}")
    return crop


TALL = 2.0  # a crop this many times as tall as it is wide is a vertical code; a two-row plate's is at most 1.2


def is_tall(crop: np.ndarray) -> bool:
    """Whether ``crop`` (an image array) is read as a vertical container code: turned, at ``tall_width``."""
    return bool(crop.shape[0] > TALL * crop.shape[1])


def grey_of(crop: np.ndarray) -> np.ndarray:
    """A crop in grey at its own size (uint8), a tall crop (``is_tall``) turned counter-clockwise."""
    crop = check_crop(crop)
    tall = is_tall(crop)
    if crop.ndim == 3 and crop.shape[2] == 1:
        crop = crop[:, :, 0]
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGRA2GRAY if crop.shape[2] == 4
                                                     else cv2.COLOR_BGR2GRAY)
    if tall:
        grey = cv2.rotate(grey, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return grey


def _resize(grey: np.ndarray, height: int, width: int) -> np.ndarray:
    shrink = grey.shape[0] > height or grey.shape[1] > width
    return cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def to_grey(crop: np.ndarray, height: int, width: int) -> np.ndarray:
    """A view of a crop, uint8 ``height`` x ``width``: grey, a tall crop turned counter-clockwise, resized
    (area filter when shrinking)."""
    return _resize(grey_of(crop), height, width)


def standardise(grey: np.ndarray) -> np.ndarray:
    """uint8 images ``(..., H, W)`` to float32, zero mean and unit spread per image (night and glare alike)."""
    x = grey.astype(np.float32) / 255.0
    mean = x.mean(axis=(-2, -1), keepdims=True)
    std = x.std(axis=(-2, -1), keepdims=True)
    return np.asarray((x - mean) / np.maximum(std, 0.02), np.float32)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _runs(log_probs: np.ndarray) -> list[tuple[int, int]]:
    """Best path of one ``(T, classes)`` CTC output (class 0 blank): each character's class and the frame of
    its run where it is likeliest."""
    best = log_probs.argmax(axis=1).tolist()
    runs: list[tuple[int, int]] = []
    prev = 0
    for t, k in enumerate(best):
        if k != 0 and k != prev:
            runs.append((k, t))
        elif k != 0 and log_probs[t, k] > log_probs[runs[-1][1], k]:
            runs[-1] = (k, t)
        prev = k
    return runs


def ctc_chars(log_probs: np.ndarray, alphabet: str) -> list[tuple[str, float]]:
    """Best path of one ``(T, classes)`` CTC output (class 0 blank): each character read and its peak
    probability over the frames of its run."""
    return [(alphabet[k - 1], float(np.exp(log_probs[t, k]))) for k, t in _runs(log_probs)]


def repair_code(log_probs: np.ndarray, alphabet: str, min_ratio: float) -> list[tuple[str, float]]:
    """The best-path read of a container code; when it has the 11 characters of one but its ISO 6346 check
    digit fails, the likeliest single substitution that makes it valid, among characters of the right kind (a
    letter in the first four places, a digit after) that the network gave at least ``min_ratio`` of the read
    character's probability at its frame (the confidence then takes the substitute's probability)."""
    runs = _runs(log_probs)
    chars = [(alphabet[k - 1], float(np.exp(log_probs[t, k]))) for k, t in runs]
    text = "".join(c for c, _ in chars)
    if len(text) != 11 or valid_container_code(text):
        return chars
    frames = log_probs[[t for _, t in runs], 1:]  # (11, len(alphabet)): the characters' frames, blank left out
    read = np.array([k - 1 for k, _ in runs])
    ratio = np.exp(frames - frames[np.arange(len(read)), read][:, None])
    letters = np.array(["A" <= c <= "Z" for c in alphabet])
    digits = np.array(["0" <= c <= "9" for c in alphabet])
    kind = np.where((np.arange(len(read)) < 4)[:, None], letters[None], digits[None])
    ratio[np.arange(len(read)), read] = 0.0
    ratio[~kind] = 0.0
    for i, j in zip(*np.unravel_index(np.argsort(-ratio, axis=None), ratio.shape), strict=True):
        if ratio[i, j] < min_ratio:
            break
        if valid_container_code(text[:i] + alphabet[j] + text[i + 1:]):
            chars[i] = (alphabet[j], float(np.exp(frames[i, j])))
            break
    return chars


def ctc_greedy(log_probs: np.ndarray, alphabet: str) -> tuple[str, float]:
    """Best path of one ``(T, classes)`` CTC output (class 0 blank): the text and the product of each
    character's peak probability."""
    chars = ctc_chars(log_probs, alphabet)
    return "".join(c for c, _ in chars), float(np.prod([p for _, p in chars])) if chars else 0.0


def first_char(chars: list[tuple[str, float]], read: tuple[str, float], classes: str) -> list[tuple[str, float]]:
    """``chars`` with the province head's ``read`` of the first character: in place of the first one if that is
    one the head knows (a province or special character); before them if they start with a Latin letter (the
    authority letter: the sequence missed the province); else unchanged (a digit first is no Chinese plate's
    start: a plate the group head took for Chinese)."""
    if chars and chars[0][0] in classes:
        return [read, *chars[1:]]
    if chars and "A" <= chars[0][0] <= "Z":
        return [read, *chars]
    return chars


class Recogniser:
    """Reads rectified crops with the model in ``folder`` (the shipped one by default); the first character
    of a Chinese plate from the province head its config names (``gate_plate.province``), if any."""

    def __init__(self, folder: Path | None = None, threads: int = 1) -> None:
        folder = Path(folder) if folder is not None else DEFAULT_FOLDER
        config, self._session = open_model(folder, "recogniser", threads)
        self.height, self.width = int(config["input"]["height"]), int(config["input"]["width"])
        self.tall_width = int(config["input"].get("tall_width", self.width))
        self.alphabet: str = config["alphabet"]
        self.groups: list[dict[str, str]] = config["groups"]
        self._vertical = np.array([g["layout"] == "vertical" for g in self.groups])
        self._han = np.array([not c.isascii() for c in self.alphabet])
        self._kinds = np.array([g["kind"] for g in self.groups])
        self._input = self._session.get_inputs()[0].name
        head = config.get("province")
        self.province = ProvinceHead(folder / head["folder"], threads) if head else None
        repair = config.get("check_digit_repair")
        self.repair_ratio: float | None = float(repair["min_ratio"]) if repair else None

    def read(self, crop_bgr: np.ndarray, kind: str | None = None) -> CropRead:
        """The read of one crop (any size), of ``kind`` if given (see :meth:`read_batch`); ``ValueError`` if it
        is not an image."""
        return self.read_batch([crop_bgr], None if kind is None else [kind])[0]

    def read_batch(self, crops: Sequence[np.ndarray], kinds: Sequence[str] | None = None) -> list[CropRead]:
        """The reads of several crops (one model run for the tall ones, one for the rest), in order;
        ``ValueError`` if any is not an image. ``kinds`` (``"plate"`` or ``"container"`` for each crop, as a
        detector found it) keeps each read to the groups of its kind, unless its shape allows none of them: a
        fragment of a code is not read as a Chinese plate with a province character the head made up."""
        if not crops:
            return []
        if kinds is not None and len(kinds) != len(crops):
            raise ValueError(f"{len(kinds)} kinds for {len(crops)} crops")
        greys = [grey_of(c) for c in crops]
        tall = [is_tall(c) for c in crops]
        log_probs: list[np.ndarray] = [np.empty(0)] * len(crops)
        group_logits = np.empty((len(crops), len(self.groups)), np.float32)
        for width, which in ((self.width, [i for i, t in enumerate(tall) if not t]),
                             (self.tall_width, [i for i, t in enumerate(tall) if t])):
            if not which:
                continue
            x = standardise(np.stack([_resize(greys[i], self.height, width) for i in which]))[:, None]
            lp, gl = self._session.run(None, {self._input: x})
            for k, i in enumerate(which):
                log_probs[i] = lp[k]
            group_logits[which] = gl
        # a tall crop is a vertical code and nothing else is: the group head chooses among the rest
        allowed = np.array(tall)[:, None] == self._vertical[None]
        if kinds is not None:
            of_kind = allowed & (np.array(kinds)[:, None] == self._kinds[None])
            allowed = np.where(of_kind.any(axis=1, keepdims=True), of_kind, allowed)
        group_logits[~allowed] = -np.inf
        group_p = _softmax(group_logits)
        groups = [self.groups[int(gp.argmax())] for gp in group_p]
        for lp, g in zip(log_probs, groups, strict=True):
            if g["country"] != "CN":  # Han characters are a Chinese plate's only: the rest read without them
                lp[:, 1:][:, self._han] = -np.inf
        chars = [repair_code(lp, self.alphabet, self.repair_ratio)
                 if g["kind"] == "container" and self.repair_ratio is not None else ctc_chars(lp, self.alphabet)
                 for lp, g in zip(log_probs, groups, strict=True)]
        if self.province is not None:
            self._read_provinces(greys, groups, chars)
        return [CropRead(normalise_plate("".join(c for c, _ in cs)), g["kind"], g["country"], g["layout"],
                         float(np.prod([p for _, p in cs]) * gp.max()) if cs else 0.0)
                for cs, g, gp in zip(chars, groups, group_p, strict=True)]

    def _read_provinces(self, greys: list[np.ndarray], groups: list[dict[str, str]],
                        chars: list[list[tuple[str, float]]]) -> None:
        """The first character of each Chinese plate from the province head, in ``chars``."""
        head = self.province
        assert head is not None
        which = [i for i, g in enumerate(groups) if g["country"] == "CN" and g["layout"] in head.cuts]
        if not which:
            return
        views = standardise(np.stack([head.view(greys[i], groups[i]["layout"]) for i in which]))[:, None]
        for i, read in zip(which, head.classify(views), strict=True):
            chars[i] = first_char(chars[i], read, head.classes)
