"""Multi-stage glue: supervised attention module and cross-stage feature fusion."""

from __future__ import annotations

import torch
from torch import nn


class SupervisedAttention(nn.Module):
    """Supervised attention module (SAM) between stages.

    ``out = conv7x7(f) + img`` is the stage's supervised image; the features passed on are
    ``conv1x1(f) * sigmoid(conv1x1(out)) + f``. Returns ``(features, out)``.
    """

    def __init__(self, channels: int, *, image_channels: int = 3, kernel_size: int = 7) -> None:
        super().__init__()
        self.feat = nn.Conv2d(channels, channels, 1)
        self.to_image = nn.Conv2d(channels, image_channels, kernel_size, padding=kernel_size // 2)
        self.attn = nn.Conv2d(image_channels, channels, 1)

    def forward(self, f: torch.Tensor, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.to_image(f) + img
        return self.feat(f) * torch.sigmoid(self.attn(out)) + f, out


class CrossStageFusion(nn.Module):
    """Cross-stage feature fusion (CSFF): ``h + conv1x1(enc) + conv1x1(dec)``.

    ``enc`` and ``dec`` are the previous stage's encoder and decoder features at the same scale.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.enc = nn.Conv2d(channels, channels, 1)
        self.dec = nn.Conv2d(channels, channels, 1)

    def forward(self, h: torch.Tensor, enc: torch.Tensor, dec: torch.Tensor) -> torch.Tensor:
        return h + self.enc(enc) + self.dec(dec)
