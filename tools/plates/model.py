"""The recogniser network (torch, training only): a small CNN, learned row bands folded into one sequence,
a convolutional sequence head and CTC; plus a head for the kind/country/layout group.

Rows: the CNN leaves a map of ``H'`` rows by ``W'`` columns. For each column, ``bands`` softmax weightings over
the ``H'`` rows (learned from the features, not a fixed split of the height) pool the map into ``bands``
sequences, which are concatenated top band first: a two-row plate is read top row then bottom row. Every
frame also sees the whole crop's pooled features and its band's embedding, so a one-row plate learns to put its
characters in the first band and blanks in the second.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv(cin: int, cout: int, stride: tuple[int, int] = (1, 1)) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _conv1d(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True))


class Recogniser(nn.Module):
    """Input ``(N, 1, H, W)`` grey levels standardised per image; outputs ``(N, T, classes)`` CTC log-probs
    (blank = class 0) with ``T = bands * W / 4``, and ``(N, groups)`` group logits."""

    def __init__(self, n_classes: int, n_groups: int, bands: int = 2, width: int = 1) -> None:
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
        self.band_embed = nn.Parameter(torch.randn(1, bands, c[3], 1) * 0.1)
        self.context = nn.Linear(c[3], c[3])
        self.head = nn.Sequential(_conv1d(2 * c[3], 128), _conv1d(128, 128))
        self.out = nn.Conv1d(128, n_classes, 1)
        self.group = nn.Linear(c[3], n_groups)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)  # N, C, H', W'
        n, c, _, w = f.shape
        weights = torch.softmax(self.band_logits(f), dim=2)  # N, B, H', W': a weighting of the rows per column
        bands = (f.unsqueeze(1) * weights.unsqueeze(2)).sum(3) + self.band_embed  # N, B, C, W'
        pooled = f.mean(dim=(2, 3))  # N, C
        context = self.context(pooled)[:, None, :, None].expand(n, self.bands, c, w)
        seq = torch.cat([bands, context], dim=2).permute(0, 2, 1, 3).reshape(n, 2 * c, self.bands * w)
        logits = self.out(self.head(seq)).transpose(1, 2).log_softmax(-1)  # N, B*W', classes: top band first
        return logits, self.group(pooled)
