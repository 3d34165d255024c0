"""Face embedders: OpenCV SFace (``cv2.FaceRecognizerSF``) and ArcFace-style ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from gate_face.detectors import session
from gate_face.models import ModelError

Array = np.ndarray[Any, Any]


class Embedder(Protocol):
    size: int
    dim: int

    def embed(self, aligned: Array) -> Array: ...


def _unit(v: Array) -> Array:
    x = np.asarray(v, np.float32).reshape(-1)
    n = float(np.linalg.norm(x))
    if not np.isfinite(n) or n == 0:
        raise ValueError("the embedder returned a zero or non-finite vector")
    out: Array = x / n
    return out


class SFaceEmbedder:
    """OpenCV's SFace: 112 x 112 BGR crop in, 128 floats out."""

    size = 112

    def __init__(self, model: Path) -> None:
        try:
            self._rec = cv2.FaceRecognizerSF.create(str(model), "")
        except cv2.error as exc:
            raise ModelError(f"cannot load {model}: {exc}") from exc
        self.dim = int(self._rec.feature(np.zeros((112, 112, 3), np.uint8)).size)

    def embed(self, aligned: Array) -> Array:
        return _unit(self._rec.feature(aligned))


class ArcFaceEmbedder:
    """InsightFace ArcFace conventions: RGB, (x - 127.5) / 127.5, NCHW; the output named
    ``output`` (default: the first)."""

    def __init__(self, model: Path, *, mean: float = 127.5, std: float = 127.5,
                 swap_rb: bool = True, output: str | None = None, threads: int = 1) -> None:
        self._sess = session(model, threads)
        inp = self._sess.get_inputs()[0]
        self._input = inp.name
        names = [o.name for o in self._sess.get_outputs()]
        if output is not None and output not in names:
            raise ModelError(f"{model} has no output {output!r} (outputs: {names})")
        self._output = output or names[0]
        self.size = int(inp.shape[2]) if isinstance(inp.shape[2], int) else 112
        self._mean, self._std, self._swap = mean, std, swap_rb
        out = next(o for o in self._sess.get_outputs() if o.name == self._output).shape[-1]
        self.dim = out if isinstance(out, int) else int(
            self.embed(np.full((self.size, self.size, 3), 64, np.uint8)).size)

    def embed(self, aligned: Array) -> Array:
        blob = cv2.dnn.blobFromImage(aligned, 1.0 / self._std, (self.size, self.size),
                                     (self._mean,) * 3, swapRB=self._swap)
        return _unit(self._sess.run([self._output], {self._input: blob})[0])


class DlibResNetEmbedder:
    """dlib's face descriptor ResNet as ONNX (``gatecore face models install``): 150 x 150 chips cut as
    ``dlib.get_face_chip`` does (:class:`gate_face.chips.DlibChipGeometry`), BGR as the pipeline's
    frames are; :meth:`descriptor` gives dlib's 128 numbers as they are (its published 0.6 operating
    point is a Euclidean distance between them), :meth:`embed` the same direction at unit length."""

    dim = 128

    def __init__(self, model: Path, *, threads: int = 1) -> None:
        self._sess = session(model, threads)
        inp = self._sess.get_inputs()[0]
        if inp.name != "crops" or len(inp.shape) != 4 or not isinstance(inp.shape[1], int):
            raise ModelError(f"{model} is not a face descriptor model written by gatecore face models install")
        self.size = int(inp.shape[1])

    def descriptor(self, aligned: Array) -> Array:
        rgb = np.ascontiguousarray(aligned[None, :, :, ::-1], np.uint8)
        out: Array = np.asarray(self._sess.run(["descriptors"], {"crops": rgb})[0], np.float32)[0]
        return out

    def embed(self, aligned: Array) -> Array:
        return _unit(self.descriptor(aligned))
