"""The plate / container-code detector network, its training targets and its loss (torch; training only).

A CenterNet-like single-shot detector on a downscaled frame: a small depthwise-separable backbone
(strides 2..32) with a light feature pyramid back to stride 4, and two heads there:

- ``heat`` (N, K, H/4, W/4): logits of a region's centre, one channel per kind (``KINDS``);
- ``corners`` (N, 8, H/4, W/4): the 4 corners (clockwise from the text's top-left) as offsets from the
  cell's centre, in units of ``CORNER_UNIT`` input pixels.

The exported ONNX graph applies the sigmoid to ``heat``; peak picking and the corner arithmetic are done by
``gate_plate.detect`` with numpy, from the ``config.json`` written beside the model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

KINDS = ("plate", "container")
STRIDE = 4
CORNER_UNIT = 16.0  # input pixels per unit of a corner offset
Array = np.ndarray[Any, Any]


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Block(nn.Module):
    """Depthwise 3x3 + pointwise 1x1, residual when the shape allows it."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.dw = _conv(cin, cin, 3, stride, groups=cin)
        self.pw = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw(self.dw(x))
        return F.relu(y + x if self.residual else y)


def _stage(cin: int, cout: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(_Block(cin, cout, 2), *(_Block(cout, cout) for _ in range(blocks - 1)))


class PlateDetector(nn.Module):
    """Input: (N, 3, H, W) BGR float 0..255, H and W multiples of 32. Output: (heat, corners) at stride 4."""

    def __init__(self, width: int = 16, kinds: int = len(KINDS), sigmoid: bool = False) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(_conv(3, w, 3, 2), _conv(w, w, 3, 1, groups=w), _conv(w, 2 * w, 1))
        self.s4 = _stage(2 * w, 2 * w, 2)
        self.s8 = _stage(2 * w, 3 * w, 2)
        self.s16 = _stage(3 * w, 4 * w, 3)
        self.s32 = _stage(4 * w, 6 * w, 3)
        f = 2 * w
        self.lat = nn.ModuleList([nn.Conv2d(c, f, 1) for c in (2 * w, 3 * w, 4 * w, 6 * w)])
        self.smooth = nn.ModuleList([_Block(f, f) for _ in range(3)])
        self.head = nn.Sequential(_Block(f, f), _Block(f, f))
        self.heat = nn.Conv2d(f, kinds, 1)
        self.corners = nn.Conv2d(f, 8, 1)
        self.sigmoid = sigmoid
        nn.init.constant_(self.heat.bias, -4.6)  # start near p = 0.01 (focal-loss prior)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x * (1.0 / 127.5) - 1.0
        c4 = self.s4(self.stem(x))
        c8 = self.s8(c4)
        c16 = self.s16(c8)
        c32 = self.s32(c16)
        p = self.lat[3](c32)
        for lat, smooth, c in zip(self.lat[2::-1], self.smooth, (c16, c8, c4), strict=True):
            p = smooth(lat(c) + F.interpolate(p, scale_factor=2.0, mode="nearest"))
        h = self.head(p)
        heat = self.heat(h)
        return (torch.sigmoid(heat) if self.sigmoid else heat), self.corners(h)


def encode(regions: list[tuple[int, Array]], height: int, width: int, kinds: int = len(KINDS)
           ) -> tuple[Array, Array, Array]:
    """Training targets for one image of ``height`` x ``width`` input pixels: ``regions`` are (kind index,
    corners (4, 2) in input pixels). Returns heat (K, h, w) with a Gaussian peak of 1 at each centre cell (its
    spread a sixth of the region's extent on each axis),
    corner offsets (8, h, w) and their weights (h, w), non-zero in a small core around each centre."""
    h, w = height // STRIDE, width // STRIDE
    heat = np.zeros((kinds, h, w), np.float32)
    offsets = np.zeros((8, h, w), np.float32)
    weight = np.zeros((h, w), np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    for kind, corners in regions:
        pts = np.asarray(corners, np.float32) / STRIDE
        cx, cy = pts.mean(axis=0)
        if not (0 <= cx < w and 0 <= cy < h):
            continue
        ix, iy = int(cx), int(cy)
        sx, sy = np.maximum(0.7, np.ptp(pts, axis=0) / 6)  # elongated along a long plate or a vertical code
        g = np.exp(-((xs - ix) ** 2 / (2 * sx**2) + (ys - iy) ** 2 / (2 * sy**2)))
        heat[kind] = np.maximum(heat[kind], g)
        core = (g > 0.5) & (g > weight)
        # corner offsets from each cell centre, in CORNER_UNIT input pixels
        for i in range(4):
            for axis, grid in ((0, xs), (1, ys)):
                offsets[2 * i + axis][core] = (pts[i, axis] - grid[core] - 0.5) * STRIDE / CORNER_UNIT
        weight[core] = g[core]
    return heat, offsets, weight


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of centres."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    neg = 1 - pos
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p**2 * (1 - target) ** 4 * neg
    n = pos.sum().clamp(min=1.0)
    return -(pos_loss.sum() + neg_loss.sum()) / n


def corner_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted smooth-L1 of the corner offsets over the centre cores."""
    w = weight.unsqueeze(1)
    loss = F.smooth_l1_loss(pred, target, reduction="none", beta=0.1) * w
    return loss.sum() / (w.sum() * 8).clamp(min=1.0)


def parameter_count(model: nn.Module) -> int:
    return sum(math.prod(p.shape) for p in model.parameters())
