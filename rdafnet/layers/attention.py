"""Pixel attention and attention fusion: the two halves of continuous cross-layer attention."""

from __future__ import annotations

import torch
from torch import nn


class PixelAttention(nn.Module):
    """Pixel attention module (AM), paper eq. 5: ``M = sigmoid(conv1x1(F))``.

    Produces one attention value per pixel and channel, with the shape of its input.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.proj(x))


class DepthwiseSeparableConv(nn.Module):
    """Depthwise 3x3 (zero padding, no bias) followed by a pointwise 1x1 (no bias)."""

    def __init__(self, channels: int, *, kernel_size: int = 3) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False
        )
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class AttentionFusion(nn.Module):
    """Attention fusion module (AFM), paper eq. 6.

    Fuses ``num_maps`` attention maps of ``channels`` channels each:
    ``M' = DSC(conv1x1(concat(M_1, ..., M_k)))``. Call it with the maps as separate tensors.
    """

    def __init__(self, channels: int, *, num_maps: int) -> None:
        super().__init__()
        if num_maps < 2:
            raise ValueError(f"AttentionFusion needs at least 2 maps to fuse, got num_maps={num_maps}")
        self.num_maps = num_maps
        self.reduce = nn.Conv2d(channels * num_maps, channels, 1)
        self.dsc = DepthwiseSeparableConv(channels)

    def forward(self, *maps: torch.Tensor) -> torch.Tensor:
        if len(maps) != self.num_maps:
            raise ValueError(f"AttentionFusion was built for {self.num_maps} maps, got {len(maps)}")
        return self.dsc(self.reduce(torch.cat(maps, dim=1)))
