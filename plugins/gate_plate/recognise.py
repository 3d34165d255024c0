"""The plate and container-code recogniser: one rectified crop in, its text, kind, country, layout and a
confidence out (onnxruntime on the CPU; blocking, so the plugin runs it in an executor).

The model folder (``models/recog/`` beside this file by default) holds ``model.onnx`` and ``config.json``:
input size, alphabet, the groups (kind/country/layout) the model tells apart. A crop taller than it is wide is
a vertical container code: it is turned a quarter turn counter-clockwise (its first character on the left)
before reading, as in training.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]

from gatecore.api import normalise_plate

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


def to_grey(crop: np.ndarray, height: int, width: int) -> np.ndarray:
    """The model's view of a crop, uint8 ``height`` x ``width``: grey, a tall crop turned counter-clockwise,
    resized (area filter when shrinking)."""
    crop = check_crop(crop)
    if crop.ndim == 3 and crop.shape[2] == 1:
        crop = crop[:, :, 0]
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGRA2GRAY if crop.shape[2] == 4
                                                     else cv2.COLOR_BGR2GRAY)
    if grey.shape[0] > grey.shape[1]:
        grey = cv2.rotate(grey, cv2.ROTATE_90_COUNTERCLOCKWISE)
    shrink = grey.shape[0] > height or grey.shape[1] > width
    return cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def standardise(grey: np.ndarray) -> np.ndarray:
    """uint8 images ``(..., H, W)`` to float32, zero mean and unit spread per image (night and glare alike)."""
    x = grey.astype(np.float32) / 255.0
    mean = x.mean(axis=(-2, -1), keepdims=True)
    std = x.std(axis=(-2, -1), keepdims=True)
    return np.asarray((x - mean) / np.maximum(std, 0.02), np.float32)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def ctc_greedy(log_probs: np.ndarray, alphabet: str) -> tuple[str, float]:
    """Best path of one ``(T, classes)`` CTC output (class 0 blank): the text and the product of each
    character's peak probability."""
    best = log_probs.argmax(axis=1)
    peak = np.exp(log_probs.max(axis=1))
    chars, conf, prev, run_peak = [], 1.0, 0, 0.0
    for k, p in zip(best.tolist(), peak.tolist(), strict=True):
        if k != prev and prev != 0:
            conf *= run_peak
        if k != prev:
            run_peak = 0.0
            if k != 0:
                chars.append(alphabet[k - 1])
        run_peak = max(run_peak, p) if k != 0 else run_peak
        prev = k
    if prev != 0:
        conf *= run_peak
    return "".join(chars), conf if chars else 0.0


class Recogniser:
    """Reads rectified crops with the model in ``folder`` (the shipped one by default)."""

    def __init__(self, folder: Path | None = None, threads: int = 1) -> None:
        folder = Path(folder) if folder is not None else DEFAULT_FOLDER
        config_path, model_path = folder / "config.json", folder / "model.onnx"
        if not config_path.is_file() or not model_path.is_file():
            raise FileNotFoundError(f"no recogniser model in {folder} (needs model.onnx and config.json)")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        self.height, self.width = int(config["input"]["height"]), int(config["input"]["width"])
        self.alphabet: str = config["alphabet"]
        self.groups: list[dict[str, str]] = config["groups"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ValueError(f"cannot load the recogniser model {model_path}: {exc}") from exc
        self._input = self._session.get_inputs()[0].name

    def read(self, crop_bgr: np.ndarray) -> CropRead:
        """The read of one crop (any size); ``ValueError`` if it is not an image."""
        return self.read_batch([crop_bgr])[0]

    def read_batch(self, crops: Sequence[np.ndarray]) -> list[CropRead]:
        """The reads of several crops in one model run, in order; ``ValueError`` if any is not an image."""
        if not crops:
            return []
        x = standardise(np.stack([to_grey(c, self.height, self.width) for c in crops]))[:, None]
        log_probs, group_logits = self._session.run(None, {self._input: x})
        group_p = _softmax(group_logits)
        return [self._decode(lp, gp) for lp, gp in zip(log_probs, group_p, strict=True)]

    def _decode(self, log_probs: np.ndarray, group_p: np.ndarray) -> CropRead:
        text, conf = ctc_greedy(log_probs, self.alphabet)
        g = int(group_p.argmax())
        group = self.groups[g]
        return CropRead(normalise_plate(text), group["kind"], group["country"], group["layout"],
                        float(conf * group_p[g]))
