"""ONNX graphs of dlib's face networks, from the layers :mod:`face_models.networks` read.

Both graphs normalise their input as dlib's input layers do, ``(pixel - mean) / 256`` per RGB channel:

* the ResNet embedder takes ``crops``: uint8 (N, 150, 150, 3) RGB face chips (``dlib.get_face_chip``'s
  alignment) and gives ``descriptors``: float32 (N, 128), dlib's face descriptors (not normalised);
* the MMOD detector takes ``image``: float32 (1, 3, H, W) RGB pixel values (0-255, an image or a tiled
  pyramid of one) and gives ``scores``: float32 (1, 1, H', W'), the detector's score map.  Where a score
  map cell sits in the input, the detection window, the NMS overlap test and the pyramid's padding are in
  the model's metadata (``custom_metadata_map``).

A convolution followed by an affine layer is one Conv (the affine's scale and shift folded into it).
dlib's ``add_prev`` adds tensors of different shapes by zero-padding the smaller one at the end of each
axis; the ResNet's shapes are fixed, so that padding is an explicit Pad.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from face_models.networks import Layer, Mmod, ResNet

Array = np.ndarray[Any, Any]
OPSET = 17
PRODUCER = "gatecore face_models"


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, base: str, value: Array) -> str:
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op: str, inputs: list[str], base: str | None = None, **attrs: Any) -> str:
        out = self.name(base or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _normalise(b: _Builder, x: str, mean: tuple[float, float, float], nhwc: bool) -> str:
    x = b.op("Cast", [x], "as_float", to=TensorProto.FLOAT) if nhwc else x
    if nhwc:
        x = b.op("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
    m = b.const("mean", np.array(mean, np.float32).reshape(1, 3, 1, 1))
    x = b.op("Sub", [x, m], "centred")
    return b.op("Mul", [x, b.const("scale", np.array(1.0 / 256, np.float32))], "normalised")


def _conv(b: _Builder, x: str, con: Layer, affine: Layer | None) -> str:
    p = con.params
    w, bias = p["weights"].astype(np.float32), p["bias"].astype(np.float32)
    if affine is not None:
        g, beta = affine.params["gamma"], affine.params["beta"]
        w = (w * g[:, None, None, None]).astype(np.float32)
        bias = (bias * g + beta).astype(np.float32)
    py, px = p["padding"]
    return b.op("Conv", [x, b.const("w", w), b.const("b", bias)], "conv", kernel_shape=[p["size"]] * 2,
                strides=[p["stride"]] * 2, pads=[py, px, py, px])


def _out_size(n: int, k: int, s: int, pad: int) -> int:
    return 1 + (n + 2 * pad - k) // s


def _pad_to(b: _Builder, x: str, shape: tuple[int, int, int], target: tuple[int, int, int]) -> str:
    if shape == target:
        return x
    extra = [t - s for s, t in zip(shape, target, strict=True)]
    pads = np.array([0, 0, 0, 0, 0, *extra], np.int64)
    return b.op("Pad", [x, b.const("pads", pads)], "zero_pad", mode="constant")


def _layers(b: _Builder, x: str, layers: list[Layer], shape: tuple[int, int, int] | None) -> str:
    """Chain ``layers`` after ``x``; ``shape`` (C, H, W) is tracked when known (needed by add_prev)."""
    tags: dict[int, tuple[str, tuple[int, int, int] | None]] = {}
    i = 0
    while i < len(layers):
        layer = layers[i]
        k = layer.kind
        if k == "con":
            nxt = layers[i + 1] if i + 1 < len(layers) and layers[i + 1].kind == "affine" else None
            x = _conv(b, x, layer, nxt)
            if shape is not None:
                p = layer.params
                (py, px), size, stride = p["padding"], p["size"], p["stride"]
                shape = (p["filters"], _out_size(shape[1], size, stride, py), _out_size(shape[2], size, stride, px))
            i += 2 if nxt is not None else 1
            continue
        if k == "affine":  # an affine layer not after a convolution
            g = b.const("gamma", layer.params["gamma"].reshape(1, -1, 1, 1))
            x = b.op("Add", [b.op("Mul", [x, g]), b.const("beta", layer.params["beta"].reshape(1, -1, 1, 1))])
        elif k == "relu":
            x = b.op("Relu", [x])
        elif k in ("max_pool", "avg_pool") and layer.params["size"] == 0:
            x = b.op("GlobalAveragePool", [x])
            shape = (shape[0], 1, 1) if shape is not None else None
        elif k in ("max_pool", "avg_pool"):
            size, stride = layer.params["size"], layer.params["stride"]
            x = b.op("MaxPool" if k == "max_pool" else "AveragePool", [x], kernel_shape=[size, size],
                     strides=[stride, stride])
            if shape is not None:
                shape = (shape[0], _out_size(shape[1], size, stride, 0), _out_size(shape[2], size, stride, 0))
        elif k == "tag":
            tags[layer.arg] = (x, shape)
        elif k == "skip":
            x, shape = tags[layer.arg]
        elif k == "add_prev":
            other, other_shape = tags[layer.arg]
            if shape is None or other_shape is None:
                raise ValueError("add_prev needs known shapes")
            target = (max(shape[0], other_shape[0]), max(shape[1], other_shape[1]), max(shape[2], other_shape[2]))
            x = b.op("Add", [_pad_to(b, x, shape, target), _pad_to(b, other, other_shape, target)], "add_prev")
            shape = target
        elif k == "fc":
            flat = b.op("Flatten", [x], axis=1)
            x = b.op("MatMul", [flat, b.const("fc", layer.params["weights"].astype(np.float32))], "fc")
        i += 1
    return x


def _finish(b: _Builder, x: str, out_name: str) -> None:
    last = b.nodes[-1]
    last.output[0] = out_name
    for node in b.nodes:  # nothing else reads the renamed output, but keep the graph consistent
        node.input[:] = [out_name if i == x else i for i in node.input]


def _save(graph: onnx.GraphProto, path: Path, meta: dict[str, str]) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=PRODUCER)
    model.ir_version = 8
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def resnet_onnx(net: ResNet, path: Path, source_sha256: str) -> Path:
    """The face descriptor network: uint8 (N, size, size, 3) RGB crops -> float32 (N, 128)."""
    b = _Builder()
    x = _normalise(b, "crops", net.mean_rgb, nhwc=True)
    x = _layers(b, x, net.layers, (3, net.size, net.size))
    _finish(b, x, "descriptors")
    graph = helper.make_graph(
        b.nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("crops", TensorProto.UINT8, ["N", net.size, net.size, 3])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["N", 128])], b.inits)
    return _save(graph, path, {"gatecore.family": "dlib", "gatecore.role": "embedder",
                               "gatecore.chip_size": str(net.size), "gatecore.chip_padding": "0.25",
                               "gatecore.source_sha256": source_sha256})


def score_map_geometry(layers: list[Layer]) -> tuple[int, int]:
    """(stride, offset): score map cell p sits at input pixel ``stride * p + offset`` (dlib's
    ``output_tensor_to_input_tensor``, each convolution taking p to ``p * stride - padding + size // 2``)."""
    stride, offset = 1, 0
    for layer in layers:  # bottom-up: compose input <- ... <- output
        if layer.kind == "con":
            p = layer.params
            offset += stride * (p["size"] // 2 - p["padding"][0])
            stride *= p["stride"]
    return stride, offset


def mmod_onnx(net: Mmod, path: Path, source_sha256: str) -> Path:
    """The MMOD score network: float32 (1, 3, H, W) RGB 0-255 -> float32 (1, 1, H', W')."""
    b = _Builder()
    x = _normalise(b, "image", net.mean_rgb, nhwc=False)
    x = _layers(b, x, net.layers, None)
    _finish(b, x, "scores")
    graph = helper.make_graph(
        b.nodes, "mmod_human_face_detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, len(net.windows), "h", "w"])], b.inits)
    stride, offset = score_map_geometry(net.layers)
    meta = {"stride": stride, "offset": offset, "windows": net.windows, "mean_rgb": list(net.mean_rgb),
            "nms_iou": net.nms_iou, "nms_covered": net.nms_covered, "pyramid_padding": net.pyramid_padding,
            "pyramid_outer_padding": net.pyramid_outer_padding, "pyramid_rate": 5 / 6}
    return _save(graph, path, {"gatecore.family": "dlib", "gatecore.role": "detector",
                               "gatecore.mmod": json.dumps(meta), "gatecore.source_sha256": source_sha256})
