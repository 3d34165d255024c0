"""The recogniser network (torch, training only): a small CNN, learned row bands folded into one sequence,
two small self-attention layers (context across both bands: a one-row plate learns to leave the
second band blank) and CTC; plus a head for the kind/country/layout group.

Rows: the CNN leaves a map of ``H'`` rows by ``W'`` columns. For each column, ``bands`` softmax weightings over
the ``H'`` rows (learned from the features, not a fixed split of the height) pool the map into ``bands``
sequences, which are concatenated top band first: a two-row plate is read top row then bottom row, a one-row
plate learns to put its characters in the first band and blanks in the second.
"""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    """A pre-norm self-attention and feed-forward layer, written out so it exports to plain ONNX ops."""

    def __init__(self, dim: int, heads: int = 4, hidden: int = 192) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = nn.functional.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(att.transpose(1, 2).reshape(n, t, d))
        return x + self.ff(self.norm2(x))


def _conv(cin: int, cout: int, stride: tuple[int, int] = (1, 1)) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Recogniser(nn.Module):
    """Input ``(N, 1, H, W)`` grey levels standardised per image; outputs ``(N, T, classes)`` CTC log-probs
    (blank = class 0) with ``T = bands * W / 4``, and ``(N, groups)`` group logits."""

    def __init__(self, n_classes: int, n_groups: int, bands: int = 2, width: int = 1, columns: int = 48,
                 layers: int = 2) -> None:
        super().__init__()
        c = [16 * width, 32 * width, 64 * width, 96 * width]
        self.features = nn.Sequential(
            _conv(1, c[0], (2, 2)),
            _conv(c[0], c[1], (2, 2)),
            _conv(c[1], c[1]),
            _conv(c[1], c[2], (2, 1)),
            _conv(c[2], c[2]),
            _conv(c[2], c[3], (2, 1)),
            _conv(c[3], c[3]),
        )
        self.bands = bands
        self.band_logits = nn.Conv2d(c[3], bands, 1)
        self.position = nn.Parameter(torch.randn(1, bands * columns, c[3]) * 0.02)  # band and column
        self.blocks = nn.Sequential(*(Block(c[3]) for _ in range(layers)))
        self.norm = nn.LayerNorm(c[3])
        self.out = nn.Linear(c[3], n_classes)
        self.group = nn.Linear(c[3], n_groups)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)  # N, C, H', W'
        w = torch.softmax(self.band_logits(f), dim=2)  # N, B, H', W': a weighting of the rows per column
        bands = (f.unsqueeze(1) * w.unsqueeze(2)).sum(3).transpose(2, 3)  # N, B, W', C
        seq = bands.reshape(bands.shape[0], -1, bands.shape[-1]) + self.position  # N, B*W', C: top band first
        logits = self.out(self.norm(self.blocks(seq))).log_softmax(-1)
        group = self.group(f.mean(dim=(2, 3)))
        return logits, group
