"""Small generated models and synthetic faces, for tests and for plugin authors; and
:func:`photo_frame`, a photograph as a gate camera would take it.

The generated models have the inputs and outputs of the real families (YuNet for
``cv2.FaceDetectorYN``, SCRFD and ArcFace for onnxruntime, SFace for ``cv2.FaceRecognizerSF``)
and real, simple behaviour: a detector fires on a bright 32 x 32 cell (aligned to the
32-pixel grid) and reports a face centred on it with fixed landmarks; an embedder is a fixed
random linear map of the 8 x 8-pooled crop.  :func:`draw_face` draws a matching "face":
the bright cell plus an identity texture around it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Array = np.ndarray[Any, Any]
STRIDE = 32
#: landmark offsets (px) from the bright cell's centre; eye distance 38 px
LANDMARKS = np.array([[-19, -12], [19, -12], [0, 6], [-15, 24], [15, 24]], np.float64)
HALF_BOX = 64.0
_OPSET = [helper.make_opsetid("", 13)]

def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=_OPSET, producer_name="gate_face.testing")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path

class _Graph:
    def const(self, name: str, value: Array) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []

    def head(self, x: str, name: str, stride: int, weight: float, bias: Array, width: int,
             rows_first: bool, sigmoid: bool, size: int) -> str:
        """Cell means (stride-s average pool) through a 1 x 1 conv (``weight`` for every input
        channel, ``bias`` per output channel), laid out as (cells x anchors, width): the
        shape of a detector head's output."""
        ch = len(bias)
        pooled = f"pool_{stride}"
        if pooled not in {n.output[0] for n in self.nodes}:
            self.node("AveragePool", [x], pooled, kernel_shape=[stride, stride], strides=[stride, stride])
        w = np.full((ch, 3, 1, 1), weight, np.float32)
        y = self.node("Conv", [pooled, self.const(f"{name}_w", w),
                               self.const(f"{name}_b", np.asarray(bias, np.float32))], f"{name}_conv")
        if sigmoid:
            y = self.node("Sigmoid", [y], f"{name}_sig")
        y = self.node("Transpose", [y], f"{name}_t", perm=[0, 2, 3, 1])
        shape = [1, -1, width] if rows_first else [-1, width]
        cells = (size // stride) ** 2 * ch // width
        self.outputs.append(helper.make_tensor_value_info(
            name, TensorProto.FLOAT, [1, cells, width] if rows_first else [cells, width]))
        return self.node("Reshape", [y, self.const(f"{name}_shape", np.array(shape, np.int64))], name)


def _fire(gain: float, thresh: float, scale: float, anchors: int, stride: int) -> tuple[float, Array]:
    """Conv weight and bias so that sigmoid(out) > 0.5 iff the cell mean exceeds ``thresh``."""
    if stride != STRIDE:
        return 0.0, np.full(anchors, -12.0)
    return gain * scale / 3, np.full(anchors, -gain * thresh)

def make_scrfd_like(path: Path, size: int = 320) -> Path:
    """SCRFD conventions: input ``input.1`` (1, 3, size, size) of (x - 127.5) / 128, RGB;
    nine outputs score/bbox/kps for strides 8, 16, 32, two anchors per cell."""
    g = _Graph()
    x = "input.1"
    centre = 0.5  # anchors sit at cell corners; the face is centred on the cell
    box = np.array([HALF_BOX / STRIDE - centre, HALF_BOX / STRIDE - centre,
                    HALF_BOX / STRIDE + centre, HALF_BOX / STRIDE + centre])
    kps = (LANDMARKS / STRIDE + centre).reshape(-1)

    for kind in ("score", "bbox", "kps"):
        for s in (8, 16, 32):
            if kind == "score":
                w, b = _fire(20.0, 0.5, 1.0, 2, s)
                g.head(x, f"{kind}_{s}", s, w, b, 1, False, True, size)
            else:
                vals = np.tile(box if kind == "bbox" else kps, 2)
                g.head(x, f"{kind}_{s}", s, 0.0, vals, len(vals) // 2, False, False, size)
    graph = helper.make_graph(
        g.nodes, "scrfd_like",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 3, size, size])],
        g.outputs, g.inits)
    return _save(graph, path)

def make_yunet_like(path: Path, size: int = 320) -> Path:
    """YuNet conventions for ``cv2.FaceDetectorYN``: input (1, 3, H, W) BGR 0-255; outputs
    cls/obj/bbox/kps for strides 8, 16, 32, one anchor per cell, rows first."""
    g = _Graph()
    x = "input"
    box = np.array([0.5, 0.5, math.log(2 * HALF_BOX / STRIDE), math.log(2 * HALF_BOX / STRIDE)])
    kps = (LANDMARKS / STRIDE + 0.5).reshape(-1)

    for kind in ("cls", "obj", "bbox", "kps"):
        for s in (8, 16, 32):
            if kind in ("cls", "obj"):
                w, b = _fire(20.0, 0.75, 1.0 / 255.0, 1, s)
                g.head(x, f"{kind}_{s}", s, w, b, 1, True, True, size)
            else:
                vals = box if kind == "bbox" else kps
                g.head(x, f"{kind}_{s}", s, 0.0, vals, len(vals), True, False, size)
    graph = helper.make_graph(
        g.nodes, "yunet_like",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 3, size, size])],
        g.outputs, g.inits)
    return _save(graph, path)

def make_embedder(path: Path, *, dim: int = 512, input_name: str = "input.1",
                  output_name: str = "683", seed: int = 0) -> Path:
    """ArcFace (``dim=512``, ``input.1``) or SFace (``dim=128``, ``data`` -> ``fc1``) shaped:
    (1, 3, 112, 112) in, (1, dim) out; a fixed random map of the 8 x 8-pooled, centred crop."""
    g = _Graph()
    rng = np.random.default_rng(seed)
    pooled = g.node("AveragePool", [input_name], "pooled", kernel_shape=[8, 8], strides=[8, 8])
    centred = g.node("Sub", [pooled, g.node("ReduceMean", [pooled], "mean", keepdims=1)], "centred")
    flat = g.node("Flatten", [centred], "flat", axis=1)
    w = (rng.standard_normal((3 * 14 * 14, dim)) / math.sqrt(3 * 14 * 14)).astype(np.float32)
    g.node("MatMul", [flat, g.const("proj", w)], output_name)
    graph = helper.make_graph(
        g.nodes, "embedder_like",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [1, dim])], g.inits)
    return _save(graph, path)

def draw_face(image: Array, row: int, col: int, identity: int, *, jitter: int = 0) -> Array:
    """Draw a synthetic face whose bright cell is grid cell (row, col); returns the expected
    landmarks in image pixels.  ``identity`` seeds the texture; ``jitter`` adds pixel noise."""
    cy, cx = row * STRIDE + STRIDE // 2, col * STRIDE + STRIDE // 2
    rng = np.random.default_rng(identity)
    tex = rng.integers(0, 140, size=(14, 14, 3)).astype(np.uint8)
    tex = np.kron(tex, np.ones((8, 8, 1), np.uint8))
    y0, x0 = cy - 56, cx - 56
    patch = image[max(y0, 0): y0 + 112, max(x0, 0): x0 + 112]
    patch[:] = tex[max(-y0, 0): max(-y0, 0) + patch.shape[0], max(-x0, 0): max(-x0, 0) + patch.shape[1]]
    image[cy - 16: cy + 16, cx - 16: cx + 16] = 255
    if jitter:
        noise = np.random.default_rng(identity * 7919 + jitter).integers(-jitter, jitter + 1, image.shape)
        image[:] = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    out: Array = LANDMARKS + np.array([cx, cy], np.float64)
    return out


def photo_frame(image: Array, face: tuple[int, int, int, int], face_px: float = 150, angle: float = 0.0,
                shift: tuple[int, int] = (0, 0), gain: float = 1.0, blur: float = 0.0, noise: float = 0.0,
                jpeg: int = 0, seed: int = 0, size: tuple[int, int] = (640, 480)) -> Array:
    """A ``size`` frame of the photograph ``image`` whose face box is ``face`` (left, top, right,
    bottom), as a gate camera might take it: the face ``face_px`` wide near the centre (moved by
    ``shift``), turned by ``angle`` degrees, brightness times ``gain``, Gaussian blur of ``blur``
    pixels, noise of ``noise`` grey levels, JPEG at quality ``jpeg`` (0: none)."""
    left, top, right, bottom = face
    scale = face_px / (right - left + 1)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[:, 2] += np.array([size[0] / 2 + shift[0] - cx, size[1] * 0.48 + shift[1] - cy])
    frame = cv2.warpAffine(image, m, size, flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE).astype(np.float32) * gain
    if blur:
        frame = cv2.GaussianBlur(frame, (0, 0), blur)
    if noise:
        frame += np.random.default_rng(seed).normal(0, noise, frame.shape).astype(np.float32)
    out: Array = np.clip(frame, 0, 255).astype(np.uint8)
    if jpeg:
        out = cv2.imdecode(cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, jpeg])[1], cv2.IMREAD_COLOR)
    return out
