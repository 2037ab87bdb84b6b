"""Residual dense attention fusion block (RDAFB)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rdafnet.layers.attention import AttentionFusion, PixelAttention
from rdafnet.layers.fused import Fusable, FusedRDAFB, Workspace
from rdafnet.layers.norm import NormWindow, instance_norm
from rdafnet.utils.tensor import check_count

AttentionMode = Literal["fusion", "layer", "none"]
ATTENTION_MODES: tuple[str, ...] = ("fusion", "layer", "none")


class RDAFB(Fusable, NormWindow, nn.Module):
    """Residual dense attention fusion block, paper eqs. 1-4 and 7.

    With ``num_convs = C`` the block computes, for input ``x = F_0`` and its attention map
    ``M_0 = AM(x)`` (the map carried in from the previous layer, ``M_{l-1}``)::

        F_i = LReLU(IN(conv3x3(F_{i-1} * G_i)))       i = 1..C   (no LReLU for i = C)
        M_i = AM(F_i)                                 i = 1..C-1
        G_1 = M_0,  G_i = AFM(M_0, ..., M_{i-1})      i = 2..C   (eq. 6, dense fusion)
        y   = ReLU(F_C + x)                           (eq. 7, local residual learning)

    ``attention="layer"`` gates each convolution with the map of its own input instead of the
    fused maps (the paper's "AM only" ablation); ``"none"`` removes the gates. ``residual=False``
    drops the local residual (Table 5). 3x3 convolutions use reflect padding, as released.
    ``feature_stride`` is how many input pixels one feature pixel spans (2 inside the networks), so
    that :func:`~rdafnet.set_norm_window` windows are in input pixels.
    """

    def __init__(
        self,
        channels: int,
        *,
        num_convs: int = 4,
        attention: AttentionMode = "fusion",
        residual: bool = True,
        negative_slope: float = 0.2,
        eps: float = 1e-5,
        feature_stride: int = 1,
    ) -> None:
        super().__init__()
        check_count("channels", channels, 1)
        check_count("num_convs", num_convs, 1)
        if attention not in ATTENTION_MODES:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}")
        self.channels = channels
        self.num_convs = num_convs
        self.attention = attention
        self.residual = residual
        self.negative_slope = negative_slope
        self.eps = eps
        self.norm_window: int | None = None  # local statistics (see rdafnet.set_norm_window)
        self.feature_stride = feature_stride
        self.convs = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect") for _ in range(num_convs)
        )
        n_attn = num_convs if attention != "none" else 0
        self.attns = nn.ModuleList(PixelAttention(channels) for _ in range(n_attn))
        n_fuse = num_convs - 1 if attention == "fusion" else 0
        self.fusions = nn.ModuleList(AttentionFusion(channels, num_maps=i + 2) for i in range(n_fuse))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps: list[torch.Tensor] = []
        h = x
        for i, conv in enumerate(self.convs):
            if self.attention != "none":
                maps.append(self.attns[i](h))
                gate = self.fusions[i - 1](*maps) if (self.attention == "fusion" and i > 0) else maps[-1]
                h = h * gate
            h = instance_norm(conv(h), eps=self.eps, window=self.norm_window)
            if i < self.num_convs - 1:
                h = F.leaky_relu(h, self.negative_slope)
        if self.residual:
            h = h + x
        return F.relu(h)

    def fuse(self, *, workspace: Workspace | None = None) -> FusedRDAFB:
        """This block's inference form: the same function with fewer memory passes."""
        return FusedRDAFB(self, workspace=workspace)
