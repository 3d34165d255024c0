"""The province head: the first (Han) character of a Chinese plate, read from a higher-resolution cut of where
the layout puts it (onnxruntime; blocking like the recogniser it serves).

The recogniser reads a whole crop at 96 x 192: the province character of a two-row plate's top row is then a
dozen pixels tall and its first stride-2 layer loses it. This head cuts the part of the crop (at the crop's own
resolution) that the layout puts the first character in, resizes it to its small input and classifies it
among the province and special characters. Its folder (``province/`` under the recogniser's) holds
``model.onnx``, ``config.json`` (input size, the cut of each layout as fractions of the crop, the classes) and
``recipe.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]


def cut(grey: np.ndarray, box: Sequence[float], height: int, width: int) -> np.ndarray:
    """The part ``box`` = (x0, y0, x1, y1), fractions of the width and height, of a grey crop, resized to
    ``height`` x ``width`` (area filter when shrinking)."""
    h, w = grey.shape[:2]
    x0, y0 = round(box[0] * w), round(box[1] * h)
    x1, y1 = max(x0 + 2, round(box[2] * w)), max(y0 + 2, round(box[3] * h))
    part = grey[y0:y1, x0:x1]
    shrink = part.shape[0] > height or part.shape[1] > width
    return cv2.resize(part, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def open_model(folder: Path, what: str, threads: int) -> tuple[dict[str, Any], Any]:
    """The ``config.json`` of the model folder ``folder`` and an onnxruntime session of its ``model.onnx`` on
    ``threads`` threads; ``FileNotFoundError`` naming a missing file, ``ValueError`` for a model that does not
    load (``what`` names the model in both)."""
    config_path, model_path = folder / "config.json", folder / "model.onnx"
    if not config_path.is_file() or not model_path.is_file():
        raise FileNotFoundError(f"no {what} model in {folder} (needs model.onnx and config.json)")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ValueError(f"cannot load the {what} model {model_path}: {exc}") from exc
    return config, session


class ProvinceHead:
    """Classifies the first character of Chinese plates from cuts of their grey crops."""

    def __init__(self, folder: Path, threads: int = 1) -> None:
        config, self._session = open_model(folder, "province head", threads)
        self.height, self.width = int(config["input"]["height"]), int(config["input"]["width"])
        self.classes: str = config["classes"]
        self.cuts: dict[str, list[float]] = config["cuts"]
        self._input = self._session.get_inputs()[0].name

    def view(self, grey: np.ndarray, layout: str) -> np.ndarray:
        """The head's input (uint8 ``height`` x ``width``) of a grey crop of a plate with ``layout``."""
        return cut(grey, self.cuts[layout], self.height, self.width)

    def classify(self, x: np.ndarray) -> list[tuple[str, float]]:
        """The first character and its probability of each standardised view ``x`` (n, 1, height, width)."""
        if len(x) == 0:
            return []
        logits = self._session.run(None, {self._input: x})[0]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        return [(self.classes[k], float(p[i, k])) for i, k in enumerate(p.argmax(axis=1).tolist())]
