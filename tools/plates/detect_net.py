"""The plate / container-code detector network, its training targets and its loss (torch; training only).

A small segmentation network on a downscaled frame: a depthwise-separable backbone (strides 2..32) with a light
feature pyramid back to stride 4, and one head there, ``mask`` (N, K, H/4, W/4): the logits of "this cell lies
in the text region of a plate / of a container code", one channel per kind (``KINDS``). Region shapes come from
the masks' outlines, which need only local evidence (a long vertical code is as easy as a short plate), so a
small model trained for an hour on one core gets precise corners.

The exported ONNX graph applies the sigmoid; components, their outlines and the corner fit are done by
``gate_plate.detect`` with OpenCV, from the ``config.json`` written beside the model.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

KINDS = ("plate", "container")
STRIDE = 4
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
    """Input: (N, 3, H, W) BGR float 0..255, H and W multiples of 32. Output: mask logits at stride 4."""

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
        self.mask = nn.Conv2d(f, kinds, 1)
        self.sigmoid = sigmoid
        nn.init.constant_(self.mask.bias, -3.0)  # most of a frame is no text

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * (1.0 / 127.5) - 1.0
        c4 = self.s4(self.stem(x))
        c8 = self.s8(c4)
        c16 = self.s16(c8)
        c32 = self.s32(c16)
        p = self.lat[3](c32)
        for lat, smooth, c in zip(self.lat[2::-1], self.smooth, (c16, c8, c4), strict=True):
            p = smooth(lat(c) + F.interpolate(p, scale_factor=2.0, mode="nearest"))
        logits = self.mask(self.head(p))
        return torch.sigmoid(logits) if self.sigmoid else logits


def encode(regions: list[tuple[int, Array]], height: int, width: int, kinds: int = len(KINDS)) -> Array:
    """The training target of one image of ``height`` x ``width`` input pixels: ``regions`` are (kind index,
    corners (4, 2) in input pixels); returns (K, h, w) at stride ``STRIDE``, each cell the fraction of it that
    a region of that kind covers."""
    full = np.zeros((kinds, height, width), np.uint8)
    for kind, corners in regions:
        cv2.fillPoly(full[kind], [np.round(np.asarray(corners) * 4).astype(np.int32)], 255, cv2.LINE_8, shift=2)
    small = [cv2.resize(m, (width // STRIDE, height // STRIDE), interpolation=cv2.INTER_AREA) for m in full]
    return np.stack(small).astype(np.float32) / 255.0


def mask_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus a soft Dice term per kind (for the few text cells). No extra weight on text
    cells: it would push the outlines outwards, past the characters."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    inter = (p * target).sum(dim=(0, 2, 3))
    dice = 1 - (2 * inter + 1) / (p.sum(dim=(0, 2, 3)) + target.sum(dim=(0, 2, 3)) + 1)
    return bce + dice.mean()


def parameter_count(model: nn.Module) -> int:
    return sum(math.prod(p.shape) for p in model.parameters())
