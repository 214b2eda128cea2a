"""Shared network blocks."""

from __future__ import annotations

import torch
from torch import nn


class ConvNeXtBlock(nn.Module):
    """1-D ConvNeXt block (Liu et al. 2022, as used by Vocos): depthwise conv k=7, LayerNorm,
    pointwise MLP ×3 with GELU, layer scale, residual. ``[batch, channels, frames]`` in and out."""

    def __init__(self, channels: int):
        super().__init__()
        self.dwconv = nn.Conv1d(channels, channels, kernel_size=7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.pw1 = nn.Linear(channels, 3 * channels)
        self.act = nn.GELU()
        self.pw2 = nn.Linear(3 * channels, channels)
        self.gamma = nn.Parameter(torch.full((channels,), 1e-2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(x).transpose(1, 2)
        h = self.pw2(self.act(self.pw1(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)


def stack(channels: int, count: int) -> nn.Sequential:
    return nn.Sequential(*[ConvNeXtBlock(channels) for _ in range(count)])
