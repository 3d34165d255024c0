"""Face detectors: OpenCV YuNet (``cv2.FaceDetectorYN``) and SCRFD-style ONNX (onnxruntime).

Both return :class:`Detection` in the input image's pixel coordinates, landmarks in the
order left eye, right eye, nose, left mouth corner, right mouth corner (image left first).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import onnxruntime as ort

from gate_face.models import ModelError

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x, y, width, height
    landmarks: Array  # (5, 2)
    score: float

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


class Detector(Protocol):
    def detect(self, image: Array) -> list[Detection]: ...


def session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime CPU session with a fixed thread count; load errors as ModelError."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load {path}: {exc}") from exc


class YuNetDetector:
    """OpenCV's YuNet through ``cv2.FaceDetectorYN``."""

    def __init__(self, model: Path, *, score_threshold: float = 0.6,
                 nms_threshold: float = 0.3, top_k: int = 50) -> None:
        try:
            self._det = cv2.FaceDetectorYN.create(str(model), "", (320, 320), score_threshold,
                                                  nms_threshold, top_k)
        except cv2.error as exc:
            raise ModelError(f"cannot load {model}: {exc}") from exc
        self._size = (320, 320)

    def detect(self, image: Array) -> list[Detection]:
        h, w = image.shape[:2]
        if self._size != (w, h):  # re-sizing rebuilds the network: only when it changes
            self._det.setInputSize((w, h))
            self._size = (w, h)
        _, faces = self._det.detect(image)
        if faces is None:
            return []
        return [Detection((float(f[0]), float(f[1]), float(f[2]), float(f[3])),
                          np.asarray(f[4:14], np.float64).reshape(5, 2), float(f[14]))
                for f in faces]


class ScrfdDetector:
    """InsightFace SCRFD conventions: RGB, (x - 127.5) / 128, letterboxed into the model's
    input at the top left, outputs per stride (8, 16, 32) of scores (N, 1), distances
    (N, 4) and landmark offsets (N, 10) in stride units around anchor points."""

    def __init__(self, model: Path, *, input_size: tuple[int, int] = (640, 640),
                 score_threshold: float = 0.5, nms_threshold: float = 0.4,
                 threads: int = 1) -> None:
        self._sess = session(model, threads)
        self._input = self._sess.get_inputs()[0].name
        self.input_size = input_size
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold

    def detect(self, image: Array) -> list[Detection]:
        iw, ih = self.input_size
        scale = min(iw / image.shape[1], ih / image.shape[0])
        nw, nh = round(image.shape[1] * scale), round(image.shape[0] * scale)
        canvas = np.zeros((ih, iw, 3), np.uint8)
        canvas[:nh, :nw] = cv2.resize(image, (nw, nh))
        blob = cv2.dnn.blobFromImage(canvas, 1.0 / 128, (iw, ih), (127.5, 127.5, 127.5),
                                     swapRB=True)
        outs = [np.asarray(o) for o in self._sess.run(None, {self._input: blob})]
        boxes, kps, scores = self._decode(outs, iw, ih)
        keep = self._nms(boxes, scores)
        return [Detection(tuple(float(v) for v in boxes[i] / scale),  # type: ignore[arg-type]
                          kps[i] / scale, float(scores[i])) for i in keep]

    def _decode(self, outs: list[Array], iw: int, ih: int) -> tuple[Array, Array, Array]:
        outs = [o[0] if o.ndim == 3 else o for o in outs]
        by_kind = {w: sorted((o for o in outs if o.shape[-1] == w), key=len, reverse=True)
                   for w in (1, 4, 10)}
        boxes, kps, scores = [], [], []
        for stride, sc, bb, kp in zip((8, 16, 32), by_kind[1], by_kind[4], by_kind[10], strict=False):
            rows, cols = -(-ih // stride), -(-iw // stride)
            anchors = len(sc) // (rows * cols)
            ys, xs = np.mgrid[:rows, :cols]
            grid = np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride
            centres = np.repeat(grid, anchors, axis=0).astype(np.float64)
            hit = sc[:, 0] >= self.score_threshold
            c, d = centres[hit], bb[hit] * stride
            boxes.append(np.hstack([c - d[:, :2], d[:, :2] + d[:, 2:]]))
            kps.append(c[:, None, :] + kp[hit].reshape(-1, 5, 2) * stride)
            scores.append(sc[hit, 0])
        if not scores:
            return np.zeros((0, 4)), np.zeros((0, 5, 2)), np.zeros(0)
        return np.vstack(boxes), np.vstack(kps), np.concatenate(scores)

    def _nms(self, boxes: Array, scores: Array) -> list[int]:
        if len(scores) == 0:
            return []
        keep = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), self.score_threshold,
                                self.nms_threshold)
        return [int(i) for i in np.asarray(keep).reshape(-1)]
