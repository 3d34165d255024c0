"""dlib's two face networks, as their C++ types spell them, and the reader of their ``.dat`` files.

A dlib network file is the serialisation of its type: the loss layer, then each layer from the top down
writing its version and then the layer below it, the input layer, and finally, on the way back up, each
layer's own parameters.  Tag and skip layers write only a version.  The file carries no layer names, so the
type must be known: the two below are those of dlib's ``dnn_face_recognition_ex.cpp`` (the ResNet of
``dlib_face_recognition_resnet_model_v1.dat``) and ``dnn_mmod_face_detection_ex.cpp`` (the MMOD detector of
``mmod_human_face_detector.dat``).  Every version string read is checked against the type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from face_models.dlib_format import Array, FormatError, Reader, reading


@dataclass
class Layer:
    """One layer, bottom-up order.  ``kind`` is con, affine, relu, max_pool, avg_pool, add_prev, tag, skip
    or fc; ``arg`` is the tag number of tag / skip / add_prev layers."""

    kind: str
    arg: int = 0
    params: dict[str, Any] = field(default_factory=dict)


def _con(n: int, k: int, stride: int) -> Layer:
    return Layer("con", params={"filters": n, "size": k, "stride": stride})


def _block(n: int, stride: int) -> list[Layer]:
    # BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>, bottom-up, BN = affine
    return [_con(n, 3, stride), Layer("affine"), Layer("relu"), _con(n, 3, 1), Layer("affine")]


def _ares(n: int) -> list[Layer]:
    # relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>
    return [Layer("tag", 1), *_block(n, 1), Layer("add_prev", 1), Layer("relu")]


def _ares_down(n: int) -> list[Layer]:
    # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>
    return [Layer("tag", 1), *_block(n, 2), Layer("tag", 2), Layer("skip", 1),
            Layer("avg_pool", params={"size": 2, "stride": 2}), Layer("add_prev", 2), Layer("relu")]


def resnet_layers() -> list[Layer]:
    """``anet_type`` of dnn_face_recognition_ex.cpp, bottom-up (above ``input_rgb_image_sized<150>``)."""
    out = [_con(32, 7, 2), Layer("affine"), Layer("relu"), Layer("max_pool", params={"size": 3, "stride": 2})]
    out += [x for _ in range(3) for x in _ares(32)]                           # alevel4
    out += _ares_down(64) + [x for _ in range(3) for x in _ares(64)]          # alevel3
    out += _ares_down(128) + [x for _ in range(2) for x in _ares(128)]        # alevel2
    out += _ares_down(256) + [x for _ in range(2) for x in _ares(256)]        # alevel1
    out += _ares_down(256)                                                    # alevel0
    out += [Layer("avg_pool", params={"size": 0, "stride": 1}), Layer("fc", params={"outputs": 128})]
    return out


def mmod_layers() -> list[Layer]:
    """``net_type`` of dnn_mmod_face_detection_ex.cpp, bottom-up (above ``input_rgb_image_pyramid``)."""
    out: list[Layer] = []
    for n in (16, 32, 32):  # downsampler: con5d = con<n,5,5,2,2>
        out += [_con(n, 5, 2), Layer("affine"), Layer("relu")]
    for _ in range(3):      # rcon5 = relu<affine<con<45,5,5,1,1>>>
        out += [_con(45, 5, 1), Layer("affine"), Layer("relu")]
    return [*out, _con(1, 9, 1)]


# ---- reading ---------------------------------------------------------------------------------------------
def _doubles(r: Reader, n: int) -> list[float]:
    return [r.read_float() for _ in range(n)]


def _read_con(r: Reader, layer: Layer) -> None:
    version = r.expect("con_4", "con_5", "con_6")
    params = r.tensor().reshape(-1)
    n, nr, nc, sy, sx, py, px = (r.read_int() for _ in range(7))
    filt, bias = r.alias_tensor(), r.alias_tensor()
    _doubles(r, 4)  # learning-rate and weight-decay multipliers
    use_bias = r.read_bool() if version in ("con_5", "con_6") else True
    if version == "con_6":
        r.read_bool()  # use_relu: a fused relu, never set in these files
    p = layer.params
    if (n, nr, nc, sy, sx) != (p["filters"], p["size"], p["size"], p["stride"], p["stride"]):
        raise FormatError(f"con layer is {n} filters {nr}x{nc} stride {sy},{sx}, the network type says "
                          f"{p['filters']} filters {p['size']}x{p['size']} stride {p['stride']}")
    size = int(np.prod(filt))
    p["weights"] = params[:size].reshape(filt[0], filt[1], filt[2], filt[3])
    p["bias"] = params[size:size + bias[1]] if use_bias else np.zeros(n, np.float32)
    p["padding"] = (py, px)


def _read_affine(r: Reader, layer: Layer) -> None:
    version = r.expect("affine_", "affine_2", "bn_con2", "bn_fc2")
    params = r.tensor().reshape(-1)
    gamma, _ = r.alias_tensor(), r.alias_tensor()
    size = int(np.prod(gamma))
    g, b = params[:size], params[size:2 * size]
    if version.startswith("bn_"):
        # a batch-norm layer saved while training: dlib's affine_ takes its running statistics
        r.tensor(), r.tensor()  # the last batch's means and inverse deviations
        mean, var = r.tensor().reshape(-1), r.tensor().reshape(-1)
        r.read_int(), r.read_int()        # num_updates, running_stats_window_size
        _doubles(r, 4)
        eps = np.float32(r.read_float())
        g = (g / np.sqrt(var + eps)).astype(np.float32)
        b = (b - g * mean).astype(np.float32)
    else:
        r.read_int()  # mode
        if version == "affine_2" and r.read_bool():
            raise FormatError("a disabled affine layer is not supported")
    layer.params.update(gamma=g, beta=b)


def _read_pool(r: Reader, layer: Layer, name: str) -> None:
    r.expect(name)
    nr, nc, sy, sx, py, px = (r.read_int() for _ in range(6))
    p = layer.params
    if (nr, nc, sy, sx) != (p["size"], p["size"], p["stride"], p["stride"]) or (py, px) != (0, 0):
        raise FormatError(f"{name} is {nr}x{nc} stride {sy},{sx} padding {py},{px}, the network type says "
                          f"{p['size']}x{p['size']} stride {p['stride']} padding 0")


def _read_fc(r: Reader, layer: Layer) -> None:
    version = r.expect("fc_2", "fc_3")
    outputs, inputs = r.read_int(), r.read_int()
    params = r.tensor().reshape(-1)
    w, _ = r.alias_tensor(), r.alias_tensor()
    if r.read_int() != 1:  # bias mode: FC_NO_BIAS
        raise FormatError("the fc layer has a bias; the network type says fc_no_bias")
    _doubles(r, 4)
    if version == "fc_3":
        r.read_bool()
    if outputs != layer.params["outputs"]:
        raise FormatError(f"fc layer has {outputs} outputs, the network type says {layer.params['outputs']}")
    layer.params["weights"] = params[:int(np.prod(w))].reshape(inputs, outputs)


def _read_details(r: Reader, layer: Layer) -> None:
    if layer.kind == "con":
        _read_con(r, layer)
    elif layer.kind == "affine":
        _read_affine(r, layer)
    elif layer.kind == "relu":
        if r.expect("relu_", "relu_2") == "relu_2" and r.read_bool():
            raise FormatError("a disabled relu layer is not supported")
    elif layer.kind in ("max_pool", "avg_pool"):
        _read_pool(r, layer, f"{layer.kind}_2")
    elif layer.kind == "add_prev":
        r.expect("add_prev_")
    elif layer.kind == "fc":
        _read_fc(r, layer)


def read_network(r: Reader, layers: list[Layer], read_input: Any) -> None:
    """Fill ``layers`` (bottom-up, as made by :func:`resnet_layers` / :func:`mmod_layers`) from ``r``,
    positioned after the loss layer.  ``read_input(r)`` reads the input layer."""
    versions: list[int] = []
    for i, layer in enumerate(reversed(layers)):  # top-down: each layer's version, then the one below
        bottom = i == len(layers) - 1
        if layer.kind in ("tag", "skip"):
            versions.append(r.version(1))
        else:
            versions.append(r.version(2, 3) if bottom else r.version(1, 2))
    read_input(r)
    for i, (layer, version) in enumerate(zip(layers, reversed(versions), strict=True)):  # bottom-up
        if layer.kind in ("tag", "skip"):
            continue
        _read_details(r, layer)
        r.read_bool(), r.read_bool(), r.read_bool()  # setup called, gradient stale, output disabled
        r.tensor(), r.tensor()        # x_grad, cached_output (empty in a saved model)
        if i == 0:
            r.tensor()                # grad_final
            if version >= 3:
                r.read_int()               # sample expansion factor
        elif version == 2:
            r.tensor()                # params_grad


@dataclass
class ResNet:
    layers: list[Layer]
    mean_rgb: tuple[float, float, float]
    size: int


def read_resnet(data: bytes) -> ResNet:
    """The face descriptor network of ``dlib_face_recognition_resnet_model_v1.dat``."""
    with reading("face recognition ResNet"):
        return _read_resnet(data)


def _read_resnet(data: bytes) -> ResNet:
    r = Reader(data)
    r.version(1)  # add_loss_layer
    if r.expect("loss_metric_", "loss_metric_2") == "loss_metric_2":
        r.read_float(), r.read_float()  # margin, distance threshold (training only)
    layers = resnet_layers()
    found: dict[str, Any] = {}

    def read_input(rr: Reader) -> None:
        rr.expect("input_rgb_image_sized")
        found["mean"] = (rr.read_float(), rr.read_float(), rr.read_float())
        found["size"] = (rr.read_int(), rr.read_int())

    read_network(r, layers, read_input)
    if not r.at_end():
        raise FormatError(f"{len(data) - r.pos} bytes left after the network")
    rows, cols = found["size"]
    if rows != cols:
        raise FormatError(f"input is {rows}x{cols}, expected a square crop")
    return ResNet(layers, found["mean"], rows)


@dataclass
class Mmod:
    layers: list[Layer]
    mean_rgb: tuple[float, float, float]
    pyramid_padding: int
    pyramid_outer_padding: int
    windows: list[tuple[int, int]]  # detector windows, width x height
    nms_iou: float
    nms_covered: float


def _mmod_options(r: Reader) -> dict[str, Any]:
    version = r.version(1, 2, 3, 4)
    if version == 1:
        windows = [(r.read_int(), r.read_int())]
    else:
        windows = []
        for _ in range(r.read_int()):
            v = r.version(1, 2)
            w, h = r.read_int(), r.read_int()
            if v == 2:
                r.read_string()  # label
            windows.append((w, h))
    r.read_float(), r.read_float(), r.read_float()  # loss per false alarm / missed target, truth match IoU
    iou, covered = r.read_float(), r.read_float()
    r.read_float(), r.read_float()             # overlaps_ignore
    if version >= 3:
        r.read_int()                      # assume_image_pyramid
    if version >= 4 and r.read_bool():
        raise FormatError("bounding-box regression is not supported")
    if version >= 4:
        r.read_float()
    return {"windows": windows, "nms_iou": iou, "nms_covered": covered}


def read_mmod(data: bytes) -> Mmod:
    """The detector of ``mmod_human_face_detector.dat``."""
    with reading("MMOD detector"):
        return _read_mmod(data)


def _read_mmod(data: bytes) -> Mmod:
    r = Reader(data)
    r.version(1)
    r.expect("loss_mmod_")
    options = _mmod_options(r)
    layers = mmod_layers()
    found: dict[str, Any] = {}

    def read_input(rr: Reader) -> None:
        version = rr.expect("input_rgb_image_pyramid", "input_rgb_image_pyramid2")
        found["mean"] = (rr.read_float(), rr.read_float(), rr.read_float())
        found["padding"] = (rr.read_int(), rr.read_int()) if version.endswith("2") else (10, 11)

    read_network(r, layers, read_input)
    if not r.at_end():
        raise FormatError(f"{len(data) - r.pos} bytes left after the network")
    padding, outer = found["padding"]
    return Mmod(layers, found["mean"], padding, outer, options["windows"], options["nms_iou"], options["nms_covered"])


__all__ = ["Array", "Layer", "Mmod", "ResNet", "mmod_layers", "read_mmod", "read_resnet", "resnet_layers"]
